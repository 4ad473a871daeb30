"""The ablation experiments (AK 3.2-4.2, ZF Table 3): tiny synthetic runs, their arms,
and every claim's effect read off results with hand-worked numbers."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from alexnet.crops import random_crop_flip
from analysis.experiments import Curve, ExperimentResult
from analysis.experiments import augmentation, dropout, layer_removal, lrn, pooling, towers
from analysis.experiments.arms import ALEXNET_BASE, run_arms, shared_start
from analysis.experiments.claims import measure
from analysis.experiments.registry import EXPERIMENTS, preset
from tests.test_experiments import synthetic

TINY = replace(ALEXNET_BASE, widths=(8, 8, 16, 16, 8, 32, 32), epochs=1.0, subset=0, test_subset=0,
               train_eval_subset=60, batch_size=32, record_every=2, lrs={"relu": (0.05,)})
ABLATIONS = {"pooling": pooling, "dropout": dropout, "augmentation": augmentation, "towers": towers,
             "layer-removal": layer_removal}


@pytest.fixture(scope="module")
def data():
    return synthetic(192, seed=0), synthetic(60, seed=1)


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_tiny_run_fills_every_arm(data, name):
    train, test = data
    module = ABLATIONS[name]
    cfg = TINY if name != "dropout" else replace(TINY, test_every=0.5)
    seen = []
    r = EXPERIMENTS[name].run(cfg, train, test, seen.append)
    names = [a.name for a in module.arms(cfg, train)]
    assert list(r.curves) == names and set(r.test_error) == set(names)
    for n in names:
        c = r.curves[n]
        # 192 images, batch 32: 6 steps an epoch, a record every 2
        assert c.epochs == pytest.approx([1 / 3, 2 / 3, 1.0])
        assert c.test_epochs == pytest.approx([0.5, 1.0] if name == "dropout" else [1.0])
        assert all(e in {k / 60 for k in range(61)} for e in c.test_error + c.train_eval_error)  # k of 60
        assert r.train_error[n] == c.train_eval_error[-1]
    assert seen and seen[-1]["partial"]["curves"].keys() == set(names)
    assert ExperimentResult.from_dict(r.to_dict()) == r


def _built(arms, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nets = [a.build() for a in arms]
    return nets, shared_start(nets)


def test_arms_start_from_the_same_weights_where_shapes_match(data):
    """Pooling, dropout: every tensor shared. Towers: conv5 and the FC layers (same shapes),
    not conv1-conv4 (half the kernels). Layer removal: what keeps its shape."""
    for module in (pooling, dropout):
        (a, b), shared = _built(module.arms(TINY))
        assert shared == sorted(a.state_dict())
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    (two, one), shared = _built(towers.arms(TINY))
    assert shared == sorted(f"{s}.{n}.{p}" for s, n in (("features", "conv5"), ("classifier", "fc6"),
                                                         ("classifier", "fc7"), ("classifier", "fc8"))
                            for p in ("weight", "bias"))
    assert two.layer("conv1").out_channels == 2 * one.layer("conv1").out_channels
    (full, no34, no67, _), _ = _built(layer_removal.arms(TINY))
    w = {n: net.state_dict() for n, net in (("full", full), ("no34", no34), ("no67", no67))}
    assert torch.equal(w["full"]["classifier.fc6.weight"], w["no34"]["classifier.fc6.weight"])
    assert torch.equal(w["full"]["features.conv5.weight"], w["no67"]["features.conv5.weight"])
    assert w["no34"]["features.conv5.weight"].shape[1] == 4  # reads conv2's 8 maps (two towers of 4), not 16
    # run_arms does the same: stopped before the first step, the nets are as built and shared
    built = []

    def keep(arm):
        return replace(arm, build=lambda: built.append(arm.build()) or built[-1])

    train, test = data
    r = run_arms("pooling", TINY, [keep(a) for a in pooling.arms(TINY)], train, test, should_stop=lambda: True)
    assert r.stopped and all(torch.equal(v, built[1].state_dict()[k]) for k, v in built[0].state_dict().items())


def test_arm_nets_are_what_the_papers_compare():
    over, flat = [a.build() for a in pooling.arms(TINY)]
    assert over.layer("pool2").kernel_size == 3 and flat.layer("pool2").kernel_size == 2
    on, off = [a.build() for a in dropout.arms(TINY)]
    assert on.layer("drop6").p == on.layer("drop7").p == 0.5 and off.layer("drop6").p == 0.0
    two, one = [a.build() for a in towers.arms(TINY)]
    assert not any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in one.modules())
    assert two.layer("conv2").groups == 2
    names = {a.name: {n for n, _ in a.build().named_modules()} for a in layer_removal.arms(TINY)}
    assert {"features.conv3", "features.conv4", "classifier.fc6", "classifier.fc7"} <= names["all"]
    assert not {"features.conv3", "features.conv4"} & names["no-conv3-4"]
    assert not {"classifier.fc6", "classifier.fc7", "classifier.drop6"} & names["no-fc6-7"]
    assert not {"features.conv3", "classifier.fc7"} & names["no-conv3-4-fc6-7"]


def test_pca_arm_changes_colour_only_and_keeps_the_crop_flip_arms_crops():
    """The crop-flip-pca arm = the crop-flip arm's very crops plus, per image, one RGB offset
    for every pixel: 255 * V (alpha * lam), alpha drawn from its own generator."""
    x = synthetic(8, seed=3).images
    vals, vecs = torch.tensor([0.04, 0.01, 0.002]), torch.eye(3)
    got = augmentation.with_pca_noise(vals, vecs, seed=7)(x, torch.Generator().manual_seed(1))
    crops = random_crop_flip(x, torch.Generator().manual_seed(1)).float()
    offset = got - crops  # (8, 3, 32, 32)
    assert torch.allclose(offset, offset[:, :, :1, :1].expand_as(offset), atol=1e-4)  # same for every pixel
    alpha = 0.1 * torch.randn(8, 3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(offset[:, :, 0, 0], 255 * alpha * vals, atol=1e-4, rtol=1e-5)  # V = I
    assert augmentation.unchanged(x, None) is x


def _result(name, test, train=None, curves=None, target=0.25, stopped=False):
    curves = curves or {n: Curve(0.01) for n in test}
    return ExperimentResult(name, {"target_error": target}, curves, test_error=test, train_error=train or {},
                            stopped=stopped)


def test_claim_effects_hand_worked():
    by = {e: {c.statement: c for c in EXPERIMENTS[e].claims} for e in EXPERIMENTS}
    # LRN: 13% -> 11% is -2 points
    (c,) = EXPERIMENTS["lrn"].claims
    assert c.effect(_result("lrn", {"no-lrn": 0.13, "lrn": 0.11})) == pytest.approx(-2.0)
    # pooling: test 30.0 vs 31.0 -> -1.0; gaps 10.0 vs 13.0 -> -3.0
    r = _result("pooling", {"overlapping": 0.30, "non-overlapping": 0.31},
                {"overlapping": 0.20, "non-overlapping": 0.18})
    err, gap = EXPERIMENTS["pooling"].claims
    assert err.effect(r) == pytest.approx(-1.0) and gap.effect(r) == pytest.approx(-3.0)
    assert err.paper == -0.4 and gap.paper is None and gap.direction == -1
    # dropout: gaps 40 - 5 = 35 and 30 - 20 = 10 -> +25; converging (target 25%): dropout crosses
    # between (3, 0.30) and (4, 0.20) at 3.5, no-dropout between (1, 0.40) and (2, 0.20) at 1.75 -> 2.0x
    curves = {"dropout": Curve(0.01, test_epochs=[1, 2, 3, 4], train_eval_error=[0.5, 0.4, 0.3, 0.2]),
              "no-dropout": Curve(0.01, test_epochs=[1, 2, 3, 4], train_eval_error=[0.4, 0.2, 0.1, 0.05])}
    r = _result("dropout", {"dropout": 0.30, "no-dropout": 0.40}, {"dropout": 0.20, "no-dropout": 0.05}, curves)
    overfit, converge = EXPERIMENTS["dropout"].claims
    assert overfit.effect(r) == pytest.approx(25.0) and converge.effect(r) == pytest.approx(2.0)
    assert dropout.epochs_to_converge(r, "dropout") == pytest.approx(3.5)
    never = replace(curves["dropout"], train_eval_error=[0.5, 0.4, 0.3, 0.3])
    assert converge.effect(replace(r, curves={**curves, "dropout": never})) is None
    # augmentation: 29.0 with colour noise vs 30.5 without -> -1.5
    pca, overfit = EXPERIMENTS["augmentation"].claims
    r = _result("augmentation", {"none": 0.40, "crop-flip": 0.305, "crop-flip-pca": 0.29},
                {"none": 0.0, "crop-flip": 0.20, "crop-flip-pca": 0.21})
    assert pca.effect(r) == pytest.approx(-1.5) and overfit.effect(r) == pytest.approx(40.0 - 10.5)
    (two,) = EXPERIMENTS["towers"].claims
    assert two.effect(_result("towers", {"two-towers": 0.383, "one-tower": 0.40})) == pytest.approx(-1.7)
    # ZF Table 3's own numbers give its own effects: 45.4 - 40.5, 44.8 - 40.5, 71.3 - 40.5
    zf = _result("layer-removal", {"all": 0.405, "no-conv3-4": 0.454, "no-fc6-7": 0.448, "no-conv3-4-fc6-7": 0.713})
    assert [c.effect(zf) for c in EXPERIMENTS["layer-removal"].claims] == pytest.approx([4.9, 4.3, 30.8])
    assert [c.paper for c in EXPERIMENTS["layer-removal"].claims] == [4.9, 4.3, 30.8]
    # a stopped run or a missing arm measures nothing
    assert two.effect(_result("towers", {"two-towers": 0.3, "one-tower": 0.4}, stopped=True)) is None
    assert two.effect(_result("towers", {"two-towers": 0.3})) is None
    assert gap.effect(_result("pooling", {"overlapping": 0.3, "non-overlapping": 0.3})) is None  # no train error
    assert len(by["pooling"]) == 2


def test_a_claim_without_a_size_holds_once_its_side_is_clear():
    _, gap = EXPERIMENTS["pooling"].claims  # "slightly more difficult to overfit": a smaller gap
    runs = [_result("pooling", {"overlapping": 0.30, "non-overlapping": 0.30},
                    {"overlapping": t, "non-overlapping": 0.20}) for t in (0.22, 0.225, 0.215)]
    # gaps 8, 7.5, 8.5 against 10: -2, -2.5, -1.5 points; sd 0.5, half-width 4.303 * 0.5 / sqrt(3) = 1.24
    m = measure(gap, runs)
    assert m.mean == pytest.approx(-2.0) and m.high == pytest.approx(-0.758, abs=1e-3) and m.verdict == "holds"
    flipped = [replace(r, train_error={"overlapping": 0.20, "non-overlapping": t}) for r, t in
               zip(runs, (0.22, 0.225, 0.215))]
    assert measure(gap, flipped).verdict == "opposite"
    wide = [replace(r, train_error={"overlapping": t, "non-overlapping": 0.20}) for r, t in
            zip(runs, (0.22, 0.23, 0.21))]  # -2, -3, -1: half-width 2.48, the interval holds 0
    assert measure(gap, wide).verdict == "not significant"


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_presets_are_valid_and_quick_is_smaller(name):
    quick, full = preset(name, "quick").validate(), preset(name, "full").validate()
    assert quick.net == full.net == "alexnet"
    assert quick.subset * quick.epochs * len(ABLATIONS[name].arms(quick, synthetic(20))) <= 40_000
    assert full.subset * full.epochs > 4 * quick.subset * quick.epochs
    for c in EXPERIMENTS[name].claims:
        assert c.experiment == name and c.scaled_down and c.unit and (c.paper is not None or c.direction)
    assert not math.isnan(full.lr_drop_at)


def _on(device, d):
    from alexnet.data import TensorDataset

    return TensorDataset(d.images.to(device), d.labels.to(device), d.classes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the device machine)")
@pytest.mark.parametrize("name", ["augmentation", "relu-tanh"])
def test_experiments_train_on_the_gpu_where_the_data_are(data, name):
    """--device cuda moves the data; the nets follow them. On the GPU the runs fill the same
    curves as on the CPU, and their first records agree (the same weights, images and order;
    only the float arithmetic differs)."""
    from tests.test_experiments import TINY as CNN_TINY

    train, test = data
    cfg = TINY if name == "augmentation" else CNN_TINY
    cpu = EXPERIMENTS[name].run(cfg, train, test)
    gpu = EXPERIMENTS[name].run(cfg, _on("cuda", train), _on("cuda", test))
    assert list(gpu.curves) == list(cpu.curves)
    for n, c in gpu.curves.items():
        assert c.epochs == cpu.curves[n].epochs and all(math.isfinite(e) for e in c.train_error)
        assert c.train_error[0] == pytest.approx(cpu.curves[n].train_error[0], abs=2 / 64)
