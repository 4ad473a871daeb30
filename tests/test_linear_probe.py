"""The linear softmax probe (ZF 5.1, 5.2) on cases whose answer is known without it."""

import math

import pytest
import torch

from alexnet.registry import build_model, model_entry
from analysis.layer_features import balanced_subset, hidden_layers, layer_accuracy
from analysis.linear_probe import fit_softmax, layer_features, pool_features, probe_accuracy, split_per_class


def test_separable_toy_set_is_learnt_exactly():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [-4.0, -4.0, -4.0]])
    y = torch.arange(4).repeat_interleave(25)
    x = centres[y] + 0.5 * torch.randn(100, 3, generator=g)  # clusters 4+ apart, noise 0.5
    probe = fit_softmax(x, y, 4)
    assert probe.accuracy(x, y) == 1.0
    fresh = centres[y] + 0.5 * torch.randn(100, 3, generator=g)
    assert probe.accuracy(fresh, y) == 1.0


def test_constant_features_give_the_class_priors():
    # With nothing to go on (all features equal), the optimum's probabilities are the class
    # frequencies: softmax(b) = n_c / N (the penalty is on the weights only).
    y = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    probe = fit_softmax(torch.ones(10, 4), y, 3)
    p = probe.logits(torch.ones(1, 4)).softmax(1)[0]
    torch.testing.assert_close(p, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64), atol=1e-6, rtol=0)


def test_one_dimensional_symmetric_case_against_its_stationary_point():
    # x = +1 for class 1 and -1 for class 0 (no standardising). By symmetry w1 = -w0 = w/2 and
    # equal biases, so the logit gap is w x and the loss is log(1 + exp(-w)) + 0.5 * l2 * w^2 / 2.
    # Its derivative vanishes where sigmoid(-w) = l2 * w / 2: solved here by bisection.
    l2 = 0.1
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1 / (1 + math.exp(mid)) > l2 * mid / 2 else (lo, mid)
    x = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])
    probe = fit_softmax(x, torch.tensor([1, 1, 0, 0]), 2, l2=l2, standardise=False)
    w = probe.weight[1, 0] - probe.weight[0, 0]
    assert float(w) == pytest.approx(lo, abs=1e-6)
    assert float(probe.bias[1] - probe.bias[0]) == pytest.approx(0.0, abs=1e-8)


def test_splits_are_per_class_and_seeded():
    labels = torch.arange(3).repeat_interleave(10)
    tr, te = split_per_class(labels, 4, seed=1)
    assert sorted(torch.bincount(labels[tr]).tolist()) == [4, 4, 4] and len(te) == 18
    assert set(tr.tolist()).isdisjoint(te.tolist()) and set(tr.tolist()) | set(te.tolist()) == set(range(30))
    assert torch.equal(split_per_class(labels, 4, seed=1)[0], tr)
    assert not torch.equal(split_per_class(labels, 4, seed=2)[0], tr)
    with pytest.raises(ValueError, match="need more than --per-class 10"):
        split_per_class(labels, 10)
    assert torch.bincount(labels[balanced_subset(labels, 7)]).tolist() == [7, 7, 7]


def test_pooling_is_cell_means():
    t = torch.arange(16.0).view(1, 1, 4, 4)
    assert pool_features(t, 2).tolist() == [[2.5, 4.5, 10.5, 12.5]]  # mean of each 2x2 quadrant
    assert pool_features(t, 1).tolist() == [[7.5]]
    assert pool_features(torch.ones(2, 5)).shape == (2, 5)


def test_layer_accuracy_on_a_small_net():
    torch.manual_seed(0)
    net = build_model("zfnet_cifar", **model_entry("zfnet_cifar").small).eval()
    assert hidden_layers(net) == ("act1", "act2", "act3", "act4", "act5", "act6", "act7")
    g = torch.Generator().manual_seed(0)
    y = torch.arange(2).repeat_interleave(12)
    x = torch.randn(24, 3, 32, 32, generator=g) + 2.0 * (2 * y - 1).view(-1, 1, 1, 1)  # bright vs dark
    feats = layer_features(net, x, ["act1", "act7"], grid=2)
    assert feats["act1"].shape == (24, 8 * 4) and feats["act7"].shape == (24, 32)
    rows = layer_accuracy(net, x, y, per_class=6, layers=["act1"], splits=2)
    assert rows[0].accuracy.shape == (2,) and rows[0].mean == 1.0  # brightness is linear in act1's means
    assert torch.equal(probe_accuracy(feats["act1"], y, 6, 2), rows[0].accuracy)
