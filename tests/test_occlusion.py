"""Occlusion maps (ZF Fig. 7) against captum's Occlusion and hand-occluded images."""

import pytest
import torch
from captum.attr import Occlusion

from alexnet.weights import TORCHVISION_CONFIG
from analysis.occlusion import DEFAULT_SIZE, DEFAULT_STRIDE, centres, occlusion, positions
from tests.nets import NARROW, make
from tests.nets import NARROW_CIFAR as CIFAR  # He init: the paper's N(0, 0.01) gives too flat a softmax to test


@pytest.fixture(scope="module")
def cifar():
    return make(CIFAR)


def images(n, side=32, seed=1):
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def by_hand(model, x, size, stride, grey, channel, target):
    """Maps (b), (d), (e) from images occluded one at a time, through the plain forward."""
    h, w = x.shape[-2:]
    act, prob, top = [], [], []
    for r in positions(h, size, stride).tolist():
        for c in positions(w, size, stride).tolist():
            y = x.clone()
            y[:, :, r:r + size, c:c + size] = grey
            with torch.no_grad():
                act.append(model.forward_until(y, "act5")[0, channel].sum())
                p = model(y).softmax(1)[0]
            prob.append(p[target])
            top.append(p.argmax())
    shape = (len(positions(h, size, stride)), len(positions(w, size, stride)))
    return [torch.stack(v).reshape(shape) for v in (act, prob, top)]


def test_square_centres_by_hand():
    # 8-pixel squares from 0, 8, 16, 24 over 32 pixels: pixels 0-7 centre at 3.5, and so on
    assert centres(positions(32, 8, 8), 8, 32) == [3.5, 11.5, 19.5, 27.5]
    # from 28 an 8-pixel square is cut to pixels 28-31: its centre is 29.5, not 31.5
    assert centres([0, 28], 8, 32) == [3.5, 29.5]


def test_positions_follow_captum_rule():
    assert positions(32, 8, 5).tolist() == [0, 5, 10, 15, 20, 25]  # last square cut to 7 rows
    assert positions(32, 8, 8).tolist() == [0, 8, 16, 24]
    assert len(positions(224, DEFAULT_SIZE[224], DEFAULT_STRIDE[224])) == 13
    assert len(positions(32, DEFAULT_SIZE[32], DEFAULT_STRIDE[32])) == 13


def test_non_overlapping_windows_equal_captum_attribution(cifar):
    x = images(1)
    r = occlusion(cifar, x, size=8, stride=8)
    target = int(r.target[0])
    attr = Occlusion(lambda inp: cifar(inp).softmax(1)).attribute(
        x, sliding_window_shapes=(3, 8, 8), strides=(3, 8, 8), baselines=0.0, target=target)
    # Each pixel lies in one window: captum's value there is that window's drop.
    drop = r.base_probability[0] - r.probability[0]  # (4, 4)
    expected = drop.repeat_interleave(8, 0).repeat_interleave(8, 1)
    for ch in range(3):
        torch.testing.assert_close(attr[0, ch], expected, atol=1e-6, rtol=0)
    assert drop.abs().max() > 1e-3  # the maps are not flat


@pytest.mark.parametrize("reuse", [True, False])
def test_overlapping_cut_off_windows_rebuild_captum_attribution(cifar, reuse):
    x, grey, size, stride = images(1, seed=2), 0.5, 8, 5  # last window cut to 7 pixels
    r = occlusion(cifar, x, target=3, size=size, stride=stride, baseline=grey, reuse=reuse)
    attr = Occlusion(lambda inp: cifar(inp).softmax(1)).attribute(
        x, sliding_window_shapes=(3, size, size), strides=(3, stride, stride), baselines=grey,
        target=3, perturbations_per_eval=7)
    # captum: every pixel gets the mean drop of the windows that cover it.
    total, count = torch.zeros(32, 32), torch.zeros(32, 32)
    for i, top in enumerate(r.rows.tolist()):
        for j, left in enumerate(r.cols.tolist()):
            total[top:top + size, left:left + size] += r.base_probability[0] - r.probability[0, i, j]
            count[top:top + size, left:left + size] += 1
    torch.testing.assert_close(attr[0, 0], total / count, atol=1e-6, rtol=0)


@pytest.mark.parametrize("config", [
    CIFAR,
    CIFAR.replace(towers=1, lrn=False, overlapping_pool=False),
])
@pytest.mark.parametrize("reuse", [True, False])
def test_all_three_maps_equal_hand_occluded_images(config, reuse):
    model = make(config)
    x, grey = images(2, seed=3), torch.tensor([0.2, -0.1, 0.4])  # a per-channel grey
    r = occlusion(model, x, target=[1, 7], size=6, stride=4, baseline=grey, reuse=reuse,
                  batch_size=10)
    assert r.grid == (8, 8) and r.activation.shape == (2, 8, 8)
    for i in range(2):
        with torch.no_grad():
            a5 = model.forward_until(x[i:i + 1], "act5")[0]
        assert int(r.channel[i]) == int(a5.flatten(1).amax(1).argmax())  # strongest map
        torch.testing.assert_close(r.base_activation[i], a5[r.channel[i]].sum())
        act, prob, top = by_hand(model, x[i:i + 1], 6, 4, grey[:, None, None], int(r.channel[i]),
                                 [1, 7][i])
        torch.testing.assert_close(r.activation[i], act, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(r.probability[i], prob, rtol=1e-5, atol=1e-6)
        assert torch.equal(r.top_class[i], top)


def test_torchvision_variant_224_with_a_cut_off_window():
    model = make(TORCHVISION_CONFIG.replace(init="kaiming", widths=NARROW))
    x = images(1, side=224, seed=4)
    r = occlusion(model, x, size=90, stride=70, channel=5)  # starts 0, 70, 140 (cut to 84)
    assert r.rows.tolist() == [0, 70, 140]
    act, prob, top = by_hand(model, x, 90, 70, 0.0, 5, int(r.target[0]))
    torch.testing.assert_close(r.activation[0], act, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(r.probability[0], prob, rtol=1e-4, atol=1e-6)
    assert torch.equal(r.top_class[0], top)


def test_independent_of_batch_composition_and_chunking(cifar):
    x = images(3, seed=5)
    together = occlusion(cifar, x, size=8, stride=6, batch_size=4)
    for i in range(3):
        alone = occlusion(cifar, x[i:i + 1], size=8, stride=6, batch_size=64)
        for f in ("activation", "probability"):
            torch.testing.assert_close(getattr(together, f)[i], getattr(alone, f)[0])
        assert torch.equal(together.top_class[i], alone.top_class[0])
        assert together.channel[i] == alone.channel[0] and together.target[i] == alone.target[0]


def test_leaves_mode_and_weights_alone(cifar):
    before = {k: v.clone() for k, v in cifar.state_dict().items()}
    r = occlusion(cifar, images(1))  # defaults for 32x32: square 8, stride 2
    assert (r.size, r.stride, r.grid) == (8, 2, (13, 13))
    assert not cifar.training
    cifar.train()
    try:
        occlusion(cifar, images(1), size=16, stride=16)
        assert cifar.training
    finally:
        cifar.eval()
    assert all(torch.equal(before[k], v) for k, v in cifar.state_dict().items())
    r.activation += 1  # results are ordinary tensors, not inference-mode ones


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=0), "size must be an integer from 1 to 32"),
    (dict(size=33), "size must be an integer from 1 to 32"),
    (dict(size=8, stride=9), "stride must be an integer from 1 to size=8"),
    (dict(size=8, stride=0), "stride must be an integer from 1 to size=8"),
    (dict(size=8, target=10), r"target must be an integer in \[0, 10\)"),
    (dict(size=8, target=[1, 2, 3]), r"target must be an integer in \[0, 10\) or 2 of them"),
    (dict(size=8, channel=32), r"channel must be an integer in \[0, 32\)"),
    (dict(size=8, baseline=torch.zeros(2)), "one value per channel"),
    (dict(size=8, batch_size=0), "batch_size must be a positive integer"),
])
def test_bad_arguments_name_the_valid_choices(cifar, kwargs, message):
    with pytest.raises(ValueError, match=message):
        occlusion(cifar, images(2), stride=kwargs.pop("stride", 8), **kwargs)


def test_bad_images_are_refused(cifar):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        occlusion(cifar, torch.randn(3, 32, 32))
