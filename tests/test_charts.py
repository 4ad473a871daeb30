"""Drawing helpers (app/charts.py) against hand-worked small cases."""

import numpy as np
import torch

from analysis._layers import Box
from app.charts import receptive_field


def test_receptive_field_is_the_box_scaled_and_enlarged_pixel_sharp():
    p = torch.zeros(3, 32, 32)
    p[:, 10:15, 20:25] = torch.arange(25.0).view(5, 5)  # act1's 5x5 field, values 0..24
    p[0, 0, 0] = 99.0  # outside the box: must not set the scale
    a = receptive_field(p, Box(10, 20, 15, 25), size=96)
    assert a.shape == (95, 95, 3)  # 5 pixels, 19 times each
    assert a[0, 0, 0] == 0.0 and a[-1, -1, 0] == 1.0  # scaled to the box's own range
    assert (a[:19, :19] == 0.0).all() and np.allclose(a[19:38, :19], 5 / 24)  # blocks, not blurred


def test_colours_match_plotlys_own_sampling_of_its_scales():
    import plotly.colors as pc

    from app.charts import colours

    v = np.array([-1.0, 0.0, 0.37, 0.5, 2.0, 3.0])  # below, at and above the range 0..2
    for scale in ("Viridis", "RdBu"):
        want = pc.sample_colorscale(scale, np.clip(v / 2, 0, 1).tolist(), colortype="tuple")
        assert np.abs(colours(v, scale, 0, 2).astype(int) - np.rint(np.array(want) * 255)).max() <= 1
    assert (colours(np.ones(3), "Viridis", 1, 1) == colours(0, "Viridis", 0, 1)).all()  # flat map


def test_cells_over_gives_every_pixel_its_nearest_cell_blended_with_the_picture():
    from app.charts import cells_over

    picture = np.zeros((4, 6, 3), dtype=np.uint8)
    picture[:, 3:] = 200  # right half bright
    cells = np.array([[[100, 0, 0], [0, 100, 0]],
                      [[0, 0, 100], [40, 40, 40]]], dtype=np.uint8)  # 2 x 2 cells
    a = cells_over(picture, cells, x=[1.0, 4.0], y=[0.5, 2.5], opacity=0.5, side=8)  # 8 // 4 rows: 2x
    assert a.shape == (8, 12, 3)
    small = a[::2, ::2]
    # columns 0-2 are nearest x=1 (2.5 ties to the first), 3-5 nearest x=4; rows 0-1 nearest y=0.5
    assert (small[:2, :3] == (50, 0, 0)).all() and (small[2:, :3] == (0, 0, 50)).all()
    assert (small[:2, 3:] == (100, 150, 100)).all() and (small[2:, 3:] == (120, 120, 120)).all()


def test_class_colours_differ_and_the_legend_names_each():
    from app.charts import class_colours, swatches

    c = class_colours(3)
    assert c.shape == (3, 3) and len({tuple(x) for x in c}) == 3
    html = swatches([("cat", c[0]), ("dog & co", c[1])])
    assert f"rgb({c[0][0]}, {c[0][1]}, {c[0][2]})" in html and ">dog &amp; co<" in html


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
