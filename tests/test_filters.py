"""conv1 kernel grids and colour specificity (AK Fig. 3), with hand-made kernels."""

import json

import pytest
import torch
from torchvision.utils import make_grid

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import TORCHVISION_CONFIG
from tests.nets import SMALL_FC
from analysis.filters import (colour_specificity, conv1_grids, kernel_grid, normalise_kernels,
                              tower_colour, tower_summary)



def _edge():
    e = torch.zeros(5, 5)
    e[:, :2], e[:, 3:] = -1.0, 1.0  # a vertical edge
    return e


def test_colour_specificity_hand_made():
    blob = torch.exp(-((torch.arange(5.0) - 2) ** 2))[:, None] * torch.exp(-((torch.arange(5.0) - 2) ** 2))
    grey_edge = _edge().expand(3, 5, 5)  # the same in R, G and B
    red_green = torch.stack([blob, -blob, torch.zeros(5, 5)])  # pure opponent: no grey part
    red_only = torch.stack([blob, torch.zeros(5, 5), torch.zeros(5, 5)])
    # red only: grey part = blob/3 in each of 3 colours, energy 3 * (1/9) = 1/3 of the total.
    half = torch.stack([blob + _edge(), _edge(), _edge()])  # edge in grey plus a red blob
    # grey part = edge + blob/3; chromatic part (2/3, -1/3, -1/3) * blob, energy (6/9) * |blob|^2.
    expected_half = (6 / 9) * blob.square().sum() / half.square().sum()
    s = colour_specificity(torch.stack([grey_edge, red_green, red_only, half, torch.zeros(3, 5, 5)]))
    torch.testing.assert_close(s, torch.tensor([0.0, 1.0, 2 / 3, float(expected_half), 0.0]))
    assert colour_specificity(5 * red_only[None]).item() == pytest.approx(2 / 3)  # scale-free


def test_normalise_kernels():
    k = torch.tensor([[[[-2.0, 0.0], [2.0, 1.0]]], [[[3.0, 3.0], [3.0, 3.0]]]])
    n = normalise_kernels(k)
    torch.testing.assert_close(n[0, 0], torch.tensor([[0.0, 0.5], [1.0, 0.75]]))
    torch.testing.assert_close(n[1], torch.full((1, 2, 2), 0.5))


def test_grid_layout_against_manual_and_make_grid():
    torch.manual_seed(0)
    k = torch.randn(7, 3, 4, 4)
    g = kernel_grid(k, cols=3, padding=2, pad_value=0.25)
    assert g.shape == (3, 3 * (4 + 2) + 2, 3 * (4 + 2) + 2)
    manual = torch.full_like(g, 0.25)
    for i in range(7):
        r, c = divmod(i, 3)
        one = k[i]
        manual[:, 2 + r * 6:2 + r * 6 + 4, 2 + c * 6:2 + c * 6 + 4] = (one - one.min()) / (one.max() - one.min())
    torch.testing.assert_close(g, manual)
    ref = make_grid(normalise_kernels(k), nrow=3, padding=2, pad_value=0.25)
    torch.testing.assert_close(g, ref)
    assert kernel_grid(k, cols=16).shape == (3, 1 * 5 + 1, 7 * 5 + 1)  # fewer kernels than cols


def test_conv1_grids_per_tower():
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))  # 64 kernels, 2 towers, 5x5
    a, b = conv1_grids(model, cols=8)
    assert a.shape == b.shape == (3, 4 * 6 + 1, 8 * 6 + 1)
    w = model.layer("conv1").weight.detach()
    first_b = w[32]
    torch.testing.assert_close(b[:, 1:6, 1:6], (first_b - first_b.min()) / (first_b.max() - first_b.min()))
    (one,) = conv1_grids(AlexNet(TORCHVISION_CONFIG.replace(widths=SMALL_FC)))  # one tower of 64 11x11 kernels
    assert one.shape == (3, 4 * 12 + 1, 16 * 12 + 1)


def test_tower_summary():
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))
    with torch.no_grad():  # tower A grey, tower B half grey, half opponent
        w = model.layer("conv1").weight
        w[:32] = torch.randn(32, 1, 5, 5).expand(32, 3, 5, 5)
        w[32:48] = torch.randn(16, 1, 5, 5).expand(16, 3, 5, 5)
        opp = torch.randn(16, 1, 5, 5)
        w[48:] = torch.cat([opp, -opp, torch.zeros_like(opp)], dim=1)
    a, b = tower_colour(model, threshold=0.5)
    assert (a.tower, a.mean, a.median, a.fraction_above) == (0, pytest.approx(0, abs=1e-6), pytest.approx(0, abs=1e-6), 0)
    assert b.mean == pytest.approx(0.5) and b.fraction_above == 0.5 and b.median == pytest.approx(0.5)
    d = tower_summary(model)
    assert json.loads(json.dumps(d))[1] == {"tower": 1, "kernels": 32, "mean": 0.5, "median": 0.5,
                                            "fraction_above": 0.5, "threshold": 0.5}


def test_bad_input():
    with pytest.raises(ValueError, match="N >= 1"):
        kernel_grid(torch.zeros(0, 3, 5, 5))
    with pytest.raises(ValueError, match="cols"):
        kernel_grid(torch.zeros(2, 3, 5, 5), cols=0)


def test_split_test_matches_exact_enumeration():
    import itertools

    from analysis.filters import split_test

    a = torch.tensor([0.1, 0.3, 0.2, 0.5])
    b = torch.tensor([0.6, 0.4, 0.9, 0.35])
    pooled = torch.cat([a, b]).tolist()
    observed = b.mean() - a.mean()
    gaps = []
    for pick in itertools.combinations(range(8), 4):  # every way to choose tower A's four
        rest = [i for i in range(8) if i not in pick]
        gaps.append(sum(pooled[i] for i in rest) / 4 - sum(pooled[i] for i in pick) / 4)
    exact = sum(abs(g) >= abs(float(observed)) - 1e-12 for g in gaps) / len(gaps)
    t = split_test(a, b, permutations=40_000)
    assert t.difference == pytest.approx(float(observed))
    assert t.p_value == pytest.approx(exact, abs=0.006)
    # Identical towers: nothing to find.
    assert split_test(a, a.clone(), permutations=2000).p_value == 1.0
    assert not split_test(a, a.clone(), permutations=2000).significant
