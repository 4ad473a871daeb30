"""Drawing helpers (app/charts.py) against hand-worked small cases."""

import numpy as np
import torch

from analysis._layers import Box
from app.charts import class_colours, receptive_field


def test_receptive_field_is_the_box_scaled_and_enlarged_pixel_sharp():
    p = torch.zeros(3, 32, 32)
    p[:, 10:15, 20:25] = torch.arange(25.0).view(5, 5)  # act1's 5x5 field, values 0..24
    p[0, 0, 0] = 99.0  # outside the box: must not set the scale
    a = receptive_field(p, Box(10, 20, 15, 25), size=96)
    assert a.shape == (95, 95, 3)  # 5 pixels, 19 times each
    assert a[0, 0, 0] == 0.0 and a[-1, -1, 0] == 1.0  # scaled to the box's own range
    assert (a[:19, :19] == 0.0).all() and np.allclose(a[19:38, :19], 5 / 24)  # blocks, not blurred


def test_class_colours_give_each_present_class_its_own_band_and_name():
    scale, (ticks, names) = class_colours([2, 7], ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"])
    assert ticks.tolist() == [0, 1] and names == ["c2", "c7"]
    # zmin -0.5, zmax 1.5 put value 0 at 0.25 and value 1 at 0.75: two flat bands
    assert [s[0] for s in scale] == [0.0, 0.5, 0.5, 1.0]
    assert scale[0][1] == scale[1][1] != scale[2][1] == scale[3][1]


def test_pixelated_repeats_whole_pixels():
    from app.charts import pixelated

    img = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = pixelated(img, 7)  # 7 // 2 = 3 screen pixels per net pixel
    assert big.shape == (6, 6, 3)
    assert (big[:3, :3] == img[0, 0]).all() and (big[3:, 3:] == img[1, 1]).all()
    assert (big[:3, 3:] == img[0, 1]).all() and (big[3:, :3] == img[1, 0]).all()


def test_heat_picture_runs_black_to_pale_yellow_over_whole_pixels():
    from app.tiles import heat_picture

    heat = np.array([[0.0, 1.0], [2.0, 4.0]])  # 0 black, 4 the maximum
    a = heat_picture(heat, side=8)
    assert a.shape == (8, 8, 3) and a.dtype == np.uint8  # each value a 4x4 block
    assert (a[:4, :4] == (0, 0, 4)).all() and (a[4:, 4:] == (252, 255, 164)).all()  # Inferno's ends
    assert (a[:4, 4:] == a[0, 4]).all()
    brightness = [int(a[y, x].sum()) for y, x in ((0, 0), (0, 4), (4, 0), (4, 4))]
    assert brightness == sorted(brightness)  # larger values are lighter
    assert (heat_picture(np.zeros((2, 2)), side=2) == (0, 0, 4)).all()  # no signal: all black
