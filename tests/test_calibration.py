"""Temperature scaling, ECE, the unsure threshold and the shifted test set,
against brute force and hand-worked examples."""

import math

import pytest
import torch
import torch.nn.functional as F

from alexnet.calibration import (auroc, fit_temperature, reliability, threshold_keeping,
                                 unsure_scores)
from alexnet.shifted import SHIFTS, shifted_set


def test_temperature_is_the_grid_minimum_of_the_nll():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 10, generator=g)
    labels = torch.multinomial(z.softmax(1), 1, generator=g).squeeze(1)
    logits = 3 * z + torch.randn(500, 10, generator=g)  # overconfident, and noisy
    t = fit_temperature(logits, labels)
    grid = torch.exp(torch.linspace(math.log(0.05), math.log(40), 4001, dtype=torch.float64))
    nll = torch.stack([F.cross_entropy(logits.double() / s, labels) for s in grid])
    best = float(grid[nll.argmin()])
    assert abs(math.log(t) - math.log(best)) < 2e-3


def test_temperature_recovers_a_known_overconfidence():
    """Labels drawn from softmax(z); the net reports 2.5 z: T should be about 2.5."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20_000, 10, generator=g) * 2
    labels = torch.multinomial(z.softmax(1), 1, generator=g).squeeze(1)
    assert fit_temperature(2.5 * z, labels) == pytest.approx(2.5, rel=0.05)


def test_ece_hand_worked():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.55, 0.45]])
    labels = torch.tensor([0, 0, 0, 0])  # right, wrong, right, right
    r = reliability(probs, labels, bins=4)  # edges 0, .25, .5, .75, 1
    assert r.count == [0, 0, 2, 2]
    assert r.confidence[2] == pytest.approx(0.575) and r.accuracy[2] == 1.0
    assert r.confidence[3] == pytest.approx(0.85) and r.accuracy[3] == 0.5
    assert r.ece == pytest.approx((2 * 0.425 + 2 * 0.35) / 4)


def test_threshold_and_scores():
    assert threshold_keeping(torch.arange(1.0, 101.0), 0.95) == pytest.approx(5.95)
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    p = unsure_scores(logits, 2.0)
    assert p.tolist() == pytest.approx([math.e / (math.e + 1), 0.5])
    e = unsure_scores(logits, 2.0, "energy")
    assert e.tolist() == pytest.approx([2 * math.log(math.e + 1), 2 * math.log(2)])
    with pytest.raises(ValueError, match="unknown score"):
        unsure_scores(logits, 1.0, "vibes")


def test_knn_score_is_the_kth_nearest_cosine_hand_worked():
    from alexnet.calibration import knn_scores

    reference = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    query = torch.tensor([[5.0, 0.0], [0.0, -1.0]])
    # cosines: [5, 0] -> 1, 0, 1/sqrt(2); [0, -1] -> 0, -1, -1/sqrt(2)
    assert knn_scores(query, reference, k=1).tolist() == pytest.approx([1.0, 0.0])
    assert knn_scores(query, reference, k=2).tolist() == pytest.approx([2 ** -0.5, -(2 ** -0.5)])
    assert knn_scores(query, reference, k=3).tolist() == pytest.approx([0.0, -1.0])
    with pytest.raises(ValueError, match="k must be between 1 and the 3 reference images"):
        knn_scores(query, reference, k=4)
    with pytest.raises(ValueError, match="needs the features"):
        unsure_scores(torch.zeros(2, 3), 1.0, "knn")


def test_auroc_is_the_pairwise_win_rate():
    g = torch.Generator().manual_seed(2)
    inside = torch.randint(0, 20, (40,), generator=g).float()  # ties on purpose
    outside = torch.randint(0, 15, (30,), generator=g).float()
    wins = (inside[:, None] > outside[None]).double() + 0.5 * (inside[:, None] == outside[None]).double()
    assert auroc(inside, outside) == pytest.approx(float(wins.mean()))


def test_shifted_set_is_seeded_and_changes_each_image():
    g = torch.Generator().manual_seed(3)
    base = torch.nn.functional.interpolate(torch.rand(6, 3, 8, 8, generator=g), 32, mode="bilinear")
    images = (base * 255).to(torch.uint8)
    for s in SHIFTS:
        a, b = shifted_set(images, s, seed=0), shifted_set(images, s, seed=0)
        assert a.dtype == torch.uint8 and a.shape == images.shape
        assert torch.equal(a, b)
        assert not torch.equal(a, shifted_set(images, s, seed=1))
        changed = (a.float() - images.float()).abs().mean((1, 2, 3))
        assert bool((changed > 0).all()), s
    low = shifted_set(images, "contrast").float()
    assert float(low.std((1, 2, 3)).mean()) < float(images.float().std((1, 2, 3)).mean())
    with pytest.raises(ValueError, match="unknown shift"):
        shifted_set(images, "fog")


def test_trust_report_on_a_tiny_net():
    from alexnet.data import TensorDataset
    from alexnet.model import AlexNet, AlexNetConfig
    from alexnet.trust import stand_ins, trust_report

    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (40, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.arange(40) % 10
    data = TensorDataset(images, labels, tuple("abcdefghij"))
    torch.manual_seed(0)
    net = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, widths=(8, 8, 8, 8, 8, 16, 16),
                                init="kaiming")).eval()
    r = trust_report(net, (0.5,) * 3, (0.25,) * 3, data, data)
    assert r["calibration"]["temperature"] > 0
    assert sum(r["calibration"]["reliability_after"]["count"]) == 40
    assert set(r["shifted_test"]["shifts"]) == set(SHIFTS)
    assert r["unsure"]["score"] in ("max-probability", "energy")
    # The held-out set is the test set here: the threshold keeps 95% of it.
    kept = r["unsure"]["scores"]["max-probability"]["test_kept"]
    assert kept == pytest.approx(0.95, abs=0.03)
    # Shuffled patches are a permutation of each image's own 8x8 tiles.
    shuffled = stand_ins(images)["shuffled 8x8 patches"]
    tiles = lambda x: sorted(x.unfold(1, 8, 8).unfold(2, 8, 8).reshape(3, 16, 64).permute(1, 0, 2)  # noqa: E731
                             .reshape(16, -1).tolist())
    assert tiles(shuffled[0]) == tiles(images[0]) and not torch.equal(shuffled[0], images[0])


def test_evaluate_shifted_uses_the_weights_temperature(capsys):
    """``evaluate --shifted`` reports ECE with the manifest's temperature, computed by hand here."""
    from types import SimpleNamespace

    from alexnet.data import TensorDataset
    from alexnet.evaluate import _print_shifted
    from alexnet.model import AlexNet, AlexNetConfig

    g = torch.Generator().manual_seed(5)
    data = TensorDataset(torch.randint(0, 256, (30, 3, 32, 32), generator=g, dtype=torch.uint8),
                         torch.arange(30) % 10, tuple("abcdefghij"))
    torch.manual_seed(1)
    net = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, widths=(8, 8, 8, 8, 8, 16, 16),
                                init="kaiming")).eval()
    mean, std = (0.5,) * 3, (0.25,) * 3
    loaded = SimpleNamespace(mean=mean, std=std, info={"calibration": {"temperature": 2.5}})
    _print_shifted(net, loaded, data)
    with torch.no_grad():
        x = (data.images.float() / 255 - 0.5) / 0.25
        probs = (net(x).double() / 2.5).softmax(1)
    expect = reliability(probs, data.labels).ece
    out = capsys.readouterr().out
    assert f"expected calibration error {expect:.2%} (15 bins, temperature 2.500)" in out
    assert out.count("shifted (") == 6
