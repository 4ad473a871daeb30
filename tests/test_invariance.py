"""Invariance sweeps (ZF Fig. 5) against hand-made transformations."""

import pytest
import torch

from alexnet.weights import TORCHVISION_CONFIG
from analysis.invariance import default_amounts, invariance, invariance_all, transform_images
from tests.nets import NARROW, NARROW_CIFAR, make


@pytest.fixture(scope="module")
def cifar():
    return make(NARROW_CIFAR)


def images(n, side=32, seed=1):
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def shifted_down(x, k):
    """Rows moved down by k (up for k < 0), zeros where nothing moved in."""
    y = torch.zeros_like(x)
    if k >= 0:
        y[..., k:, :] = x[..., :x.shape[-2] - k, :]
    else:
        y[..., :k, :] = x[..., -k:, :]
    return y


@pytest.mark.parametrize("k", [3, -2, 5])
def test_translation_is_a_vertical_shift(k):
    x = images(2)
    torch.testing.assert_close(transform_images(x, "translate", k), shifted_down(x, k), atol=1e-5, rtol=0)


def test_quarter_turn_is_rot90_and_zoom_is_exact_on_a_ramp():
    x = images(1, side=8)
    torch.testing.assert_close(transform_images(x, "rotate", 90), torch.rot90(x, 1, (2, 3)), atol=1e-5, rtol=0)
    # Bilinear resampling is exact on a linear ramp: zooming x2 about the
    # centre c maps row i to the value at (i - c) / 2 + c.
    rows = torch.arange(8.0)
    ramp = rows[:, None].expand(8, 8).expand(1, 3, 8, 8)
    expected = ((rows - 3.5) / 2 + 3.5)[:, None].expand(8, 8)
    torch.testing.assert_close(transform_images(ramp, "scale", 2.0)[0, 0], expected, atol=1e-5, rtol=0)


def test_identity_amount_gives_zero_distance_and_the_original_probability(cifar):
    x = images(2)
    for transform, amounts in [("translate", [0, 4]), ("scale", [1.0, 1.3]), ("rotate", [0, 45])]:
        r = invariance(cifar, x, transform, amounts=amounts, target=[2, 5])
        for name, d in r.distances.items():
            # 0 up to float noise: the original ran in a batch of another size.
            assert (d[:, 0] < 1e-4).all() and (d[:, 1] > 1e-2).all(), (transform, name)
        with torch.no_grad():
            p = cifar(x).softmax(1)[[0, 1], [2, 5]]
        torch.testing.assert_close(r.probability[:, 0], p)


def test_distances_and_probabilities_equal_plain_forward_on_shifted_images(cifar):
    x = images(2, seed=3)
    r = invariance(cifar, x, "translate", amounts=[-3, 2], layers=("pool1", "act7"))
    assert r.distances["pool1"].shape == (2, 2) and r.probability.shape == (2, 2)
    with torch.no_grad():
        top = cifar(x).argmax(1)
        assert torch.equal(r.target, top)
        for j, k in enumerate((-3, 2)):
            y = shifted_down(x, k)
            for name in ("pool1", "act7"):
                d = (cifar.forward_until(y, name) - cifar.forward_until(x, name)).flatten(1).norm(dim=1)
                torch.testing.assert_close(r.distances[name][:, j], d, rtol=1e-4, atol=1e-4)
            p = cifar(y).softmax(1)
            torch.testing.assert_close(r.probability[:, j], p[[0, 1], top], rtol=1e-4, atol=1e-6)
            assert torch.equal(r.top_class[:, j], p.argmax(1))


def test_independent_of_batch_composition(cifar):
    x = images(3, seed=4)
    together = invariance(cifar, x, "rotate", amounts=[0, 30, 200], batch_size=4)
    for i in range(3):
        alone = invariance(cifar, x[i:i + 1], "rotate", amounts=[0, 30, 200], batch_size=64)
        for name in together.distances:
            torch.testing.assert_close(together.distances[name][i], alone.distances[name][0],
                                       rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(together.probability[i], alone.probability[0])


def test_torchvision_variant_and_default_ranges(cifar):
    model = make(TORCHVISION_CONFIG.replace(init="kaiming", widths=NARROW))
    r = invariance(model, images(1, side=224), "scale", amounts=[1.0, 0.8])
    assert r.distances["act7"][0, 0] < 1e-4 and r.distances["act7"][0, 1] > 1e-2
    assert default_amounts("translate", 224).tolist() == list(range(-56, 57, 8))
    assert default_amounts("translate", 32).tolist() == list(range(-8, 9))
    assert len(default_amounts("scale", 32)) == 9 and len(default_amounts("rotate", 32)) == 37
    cifar.train()
    try:
        curves = invariance_all(cifar, images(1))
        assert cifar.training and set(curves) == {"translate", "scale", "rotate"}
    finally:
        cifar.eval()
    assert curves["rotate"].probability.shape == (1, 37)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(transform="shear"), ValueError, "choose from translate, scale, rotate"),
    (dict(transform="scale", amounts=[0.0]), ValueError, "scale factor must be positive"),
    (dict(transform="rotate", amounts=[]), ValueError, "amounts is empty"),
    (dict(transform="rotate", layers=("conv9",)), KeyError, "choose from conv1"),
    (dict(transform="rotate", target=10), ValueError, r"class index in \[0, 10\)"),
    (dict(transform="rotate", batch_size=0), ValueError, "batch_size"),
])
def test_bad_arguments_name_the_valid_choices(cifar, kwargs, error, message):
    with pytest.raises(error, match=message):
        invariance(cifar, images(1), **kwargs)
