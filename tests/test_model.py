"""AlexNet's architecture against the paper's layer table (AK 3.5, Fig. 2)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet.lrn import LocalResponseNorm
from alexnet.model import AlexNet, AlexNetConfig

CIFAR = AlexNetConfig(variant="cifar", num_classes=10)
# Sides after each spatial stage, worked out by hand (AK Fig. 2; model docstring).
IMAGENET_SIDES = dict(conv1=55, pool1=27, conv2=27, pool2=13, conv3=13, conv4=13, conv5=13, pool5=6)
CIFAR_SIDES = dict(conv1=32, pool1=16, conv2=16, pool2=8, conv3=8, conv4=8, conv5=8, pool5=4)


@pytest.fixture(scope="module")
def imagenet():
    torch.manual_seed(0)
    return AlexNet(AlexNetConfig()).eval()


@pytest.fixture(scope="module")
def cifar():
    torch.manual_seed(0)
    return AlexNet(CIFAR).eval()


# ---- 1. shapes -----------------------------------------------------------
@pytest.mark.parametrize("variant,side,sides,widths", [
    ("imagenet", 224, IMAGENET_SIDES, (96, 256, 384, 384, 256, 4096, 4096)),
    ("cifar", 32, CIFAR_SIDES, (64, 128, 192, 192, 128, 1024, 1024)),
])
@pytest.mark.parametrize("overlapping", [True, False])
def test_output_shape_of_every_layer(variant, side, sides, widths, overlapping):
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant=variant, num_classes=10, overlapping_pool=overlapping)).eval()
    acts = model.activations(torch.randn(2, 3, side, side), model.layer_names)
    w1, w2, w3, w4, w5, w6, w7 = widths
    channels = dict(conv1=w1, pool1=w1, conv2=w2, pool2=w2, conv3=w3, conv4=w4, conv5=w5, pool5=w5)
    for name, s in sides.items():
        assert acts[name].shape == (2, channels[name], s, s), name
    assert acts["flatten"].shape == (2, w5 * sides["pool5"] ** 2)
    assert acts["fc6"].shape == (2, w6) and acts["fc7"].shape == (2, w7)
    assert acts["fc8"].shape == (2, 10)


# ---- 2. parameter counts, by hand from the paper's table ------------------
def test_two_tower_parameter_count_matches_the_paper_table(imagenet):
    # kernels x (kernel shape) + biases; conv2/4/5 see only their tower's maps.
    by_hand = {
        "conv1": 96 * (11 * 11 * 3) + 96,
        "conv2": 256 * (5 * 5 * 48) + 256,
        "conv3": 384 * (3 * 3 * 256) + 384,
        "conv4": 384 * (3 * 3 * 192) + 384,
        "conv5": 256 * (3 * 3 * 192) + 256,
        "fc6": 4096 * (6 * 6 * 256) + 4096,
        "fc7": 4096 * 4096 + 4096,
        "fc8": 1000 * 4096 + 1000,
    }
    assert sum(by_hand.values()) == 60_965_224
    for name, n in by_hand.items():
        assert sum(p.numel() for p in imagenet.layer(name).parameters()) == n, name
    assert sum(p.numel() for p in imagenet.parameters()) == 60_965_224


def test_one_tower_comparison_net_parameter_count():
    # AK 3.2's one-GPU net: half the kernels in conv1-conv4, no groups; its
    # footnote keeps conv5 (256) and the FC layers (4096) whole so that the
    # two nets have about the same number of parameters.
    by_hand = {
        "conv1": 48 * (11 * 11 * 3) + 48,
        "conv2": 128 * (5 * 5 * 48) + 128,
        "conv3": 192 * (3 * 3 * 128) + 192,
        "conv4": 192 * (3 * 3 * 192) + 192,
        "conv5": 256 * (3 * 3 * 192) + 256,
        "fc6": 4096 * (6 * 6 * 256) + 4096,
        "fc7": 4096 * 4096 + 4096,
        "fc8": 1000 * 4096 + 1000,
    }
    assert sum(by_hand.values()) == 59_798_312
    model = AlexNet(AlexNetConfig(towers=1))
    for name, n in by_hand.items():
        assert sum(p.numel() for p in model.layer(name).parameters()) == n, name
    assert sum(p.numel() for p in model.parameters()) == 59_798_312
    # Every layer is dense: one tower has no groups to keep apart.
    assert all(m.groups == 1 for m in model.modules() if isinstance(m, torch.nn.Conv2d))


# ---- 4. initialisation (AK 5) ---------------------------------------------
def test_paper_init_statistics(imagenet):
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        w = imagenet.layer(name).weight.detach().double()
        n = w.numel()
        # 6 standard errors: mean ~ N(0, s^2/n), sample std ~ N(s, s^2/(2n)).
        assert abs(w.mean().item()) < 6 * 0.01 / math.sqrt(n), name
        assert abs(w.std().item() - 0.01) < 6 * 0.01 / math.sqrt(2 * n), name
        bias = imagenet.layer(name).bias.detach()
        expected = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.equal(bias, torch.full_like(bias, expected)), name


def test_kaiming_init_std_matches_fan_in():
    torch.manual_seed(0)
    model = AlexNet(CIFAR.replace(init="kaiming"))
    # fan_in = input channels seen by one kernel x kernel area (towers: half).
    fan_in = dict(conv1=3 * 5 * 5, conv2=32 * 5 * 5, conv3=128 * 3 * 3, conv4=96 * 3 * 3,
                  conv5=96 * 3 * 3, fc6=128 * 4 * 4, fc7=1024, fc8=1024)
    for name, fan in fan_in.items():
        w = model.layer(name).weight.detach().double()
        std = math.sqrt((1.0 if name == "fc8" else 2.0) / fan)  # fc8 feeds no ReLU
        assert abs(w.std().item() - std) < 6 * std / math.sqrt(2 * w.numel()), name
        assert torch.count_nonzero(model.layer(name).bias) == 0


# ---- 5. each switch changes exactly its own layers ------------------------
def _describe(m: nn.Module):
    if isinstance(m, nn.Conv2d):
        return ("conv", m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.groups)
    if isinstance(m, nn.Linear):
        return ("linear", m.in_features, m.out_features)
    if isinstance(m, nn.MaxPool2d):
        return ("maxpool", m.kernel_size, m.stride, m.padding)
    if isinstance(m, LocalResponseNorm):
        return ("lrn", m.size, m.alpha, m.beta, m.k, m.groups)
    if isinstance(m, nn.Dropout):
        return ("dropout", m.p)
    return (type(m).__name__,)


def _stages(config):
    model = AlexNet(config)
    return {n: _describe(model.layer(n)) for n in model.layer_names}, model.layer_names


def _changed(a, b):
    return {n for n in a.keys() & b.keys() if a[n] != b[n]}


ACTS = {"act1", "act2", "act3", "act4", "act5", "act6", "act7"}


def test_layer_order_is_the_papers():
    # AK 3.3-3.5, 4.2: ReLU, then LRN (conv1, conv2), then the pool; dropout
    # 0.5 after the ReLUs of fc6 and fc7; conv3 and conv4 have no pool.
    paper = ("conv1", "act1", "lrn1", "pool1", "conv2", "act2", "lrn2", "pool2",
             "conv3", "act3", "conv4", "act4", "conv5", "act5", "pool5",
             "flatten", "fc6", "act6", "drop6", "fc7", "act7", "drop7", "fc8")
    for variant in ("imagenet", "cifar"):
        stages, order = _stages(AlexNetConfig(variant=variant))
        assert order == paper, variant
        assert stages["drop6"] == stages["drop7"] == ("dropout", 0.5)


@pytest.mark.parametrize("variant", ["cifar", "imagenet"])
def test_switches_change_exactly_their_layers(variant):
    config = AlexNetConfig(variant=variant, num_classes=10)
    base, order = _stages(config)
    tanh, _ = _stages(config.replace(activation="tanh"))
    assert _changed(base, tanh) == ACTS and tanh.keys() == base.keys()
    assert all(tanh[n] == ("Tanh",) for n in ACTS) and all(base[n] == ("ReLU",) for n in ACTS)

    no_lrn, no_lrn_order = _stages(config.replace(lrn=False))
    assert base.keys() - no_lrn.keys() == {"lrn1", "lrn2"} and not _changed(base, no_lrn)
    assert no_lrn_order == tuple(n for n in order if n not in ("lrn1", "lrn2"))
    assert base["lrn1"] == ("lrn", 5, 1e-4, 0.75, 2.0, 2)  # AK 3.3, per tower

    flat, _ = _stages(config.replace(overlapping_pool=False))
    assert _changed(base, flat) == {"pool1", "pool2", "pool5"}
    assert base["pool1"][:3] == ("maxpool", 3, 2) and flat["pool1"][:3] == ("maxpool", 2, 2)

    one, _ = _stages(config.replace(towers=1))
    # AK 3.2's one-GPU net: conv1-conv4 halved, conv5 and the FC layers whole.
    assert _changed(base, one) == {"conv1", "conv2", "conv3", "conv4", "conv5", "lrn1", "lrn2"}
    assert [base[n][-1] for n in ("conv2", "conv3", "conv4", "conv5")] == [2, 1, 2, 2]
    assert all(one[n][-1] == 1 for n in ("conv2", "conv3", "conv4", "conv5", "lrn1", "lrn2"))
    assert one["conv1"][2] * 2 == base["conv1"][2] and one["conv5"][2] == base["conv5"][2]


def test_grouped_convs_see_their_own_tower_only(cifar):
    torch.manual_seed(1)
    x = torch.rand(2, 64, 16, 16)  # conv2's input: pool1 output, 32 maps per tower
    x_b = x.clone()
    x_b[:, 32:] = torch.rand(2, 32, 16, 16)  # new tower-B input
    conv2 = cifar.layer("conv2")
    a, b = cifar.tower_slice("conv2", 0), cifar.tower_slice("conv2", 1)
    with torch.no_grad():
        y, y_b = conv2(x), conv2(x_b)
        # Reference: tower A is an ordinary conv of tower A's maps with its own kernels.
        ref_a = F.conv2d(x[:, :32], conv2.weight[a], conv2.bias[a], padding=2)
    torch.testing.assert_close(y[:, a], ref_a)
    assert torch.equal(y[:, a], y_b[:, a]) and not torch.allclose(y[:, b], y_b[:, b])
    # conv4 and conv5 also stay in their tower; conv3 mixes both towers.
    for name, c_in, own in [("conv4", 192, True), ("conv5", 192, True), ("conv3", 128, False)]:
        layer, half = cifar.layer(name), c_in // 2
        x = torch.rand(1, c_in, 8, 8)
        x_b = x.clone()
        x_b[:, half:] += 1.0
        with torch.no_grad():
            same = torch.equal(layer(x)[:, cifar.tower_slice(name, 0)],
                               layer(x_b)[:, cifar.tower_slice(name, 0)])
        assert same == own, name


# ---- 6. the surface the analyses use ---------------------------------------
def _functional_cifar(model, x):
    """The CIFAR-scale net written out with torch's functional ops and nn.LocalResponseNorm.

    Geometry from the model docstring, not from the modules: conv1 5x5/1 pad 2,
    conv2 5x5 pad 2 and conv4, conv5 3x3 pad 1 within a tower (groups=2), conv3
    3x3 pad 1 across towers, pools 3x3/2 pad 1; LRN (AK 3.3) per tower. Only
    the weights are the model's. Returns every stage's output by name.
    """
    w = {n: (model.layer(n).weight, model.layer(n).bias) for n in
         ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")}
    lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    def per_tower_lrn(h):
        return torch.cat([lrn(half) for half in h.chunk(2, dim=1)], dim=1)

    out, h = {}, x
    steps = [("conv1", lambda h: F.conv2d(h, *w["conv1"], stride=1, padding=2)), ("act1", F.relu),
             ("lrn1", per_tower_lrn), ("pool1", lambda h: F.max_pool2d(h, 3, 2, 1)),
             ("conv2", lambda h: F.conv2d(h, *w["conv2"], padding=2, groups=2)), ("act2", F.relu),
             ("lrn2", per_tower_lrn), ("pool2", lambda h: F.max_pool2d(h, 3, 2, 1)),
             ("conv3", lambda h: F.conv2d(h, *w["conv3"], padding=1)), ("act3", F.relu),
             ("conv4", lambda h: F.conv2d(h, *w["conv4"], padding=1, groups=2)), ("act4", F.relu),
             ("conv5", lambda h: F.conv2d(h, *w["conv5"], padding=1, groups=2)), ("act5", F.relu),
             ("pool5", lambda h: F.max_pool2d(h, 3, 2, 1)), ("flatten", lambda h: h.flatten(1)),
             ("fc6", lambda h: F.linear(h, *w["fc6"])), ("act6", F.relu), ("drop6", lambda h: h),
             ("fc7", lambda h: F.linear(h, *w["fc7"])), ("act7", F.relu), ("drop7", lambda h: h),
             ("fc8", lambda h: F.linear(h, *w["fc8"]))]  # dropout is the identity in eval mode
    for name, f in steps:
        h = out[name] = f(h)
    return out


TOL = dict(rtol=1e-4, atol=1e-3)


def test_forward_until_and_activations_match_torch_functional_ops():
    torch.manual_seed(0)
    cifar = AlexNet(CIFAR.replace(init="kaiming")).eval()  # He init: activations large enough that LRN acts
    x = torch.randn(3, 3, 32, 32) * 40
    with torch.no_grad():
        ref = _functional_cifar(cifar, x)
        assert (ref["lrn1"] / ref["act1"].clamp(min=1e-6))[ref["act1"] > 1].min() < 0.55  # not 2^-0.75 alone
        acts = cifar.activations(x, ["conv2", "lrn1", "pool5", "fc7", "fc8"])
        assert tuple(ref) == cifar.layer_names
        for name in cifar.layer_names:  # values up to ~300: float32 rounding in the fast LRN
            torch.testing.assert_close(cifar.forward_until(x, name), ref[name], **TOL)
        torch.testing.assert_close(cifar(x), ref["fc8"], **TOL)
    assert set(acts) == {"conv2", "lrn1", "pool5", "fc7", "fc8"}
    for name, a in acts.items():
        torch.testing.assert_close(a, ref[name], **TOL)
    assert not cifar.training  # nothing flipped the mode
    assert cifar.layer("lrn2") is cifar.features.lrn2 and cifar.layer("fc6") is cifar.classifier.fc6


def test_unknown_layer_names_raise_keyerror_with_choices(cifar):
    x = torch.randn(1, 3, 32, 32)
    for call in (lambda: cifar.layer("conv9"), lambda: cifar.forward_until(x, "conv9"),
                 lambda: cifar.activations(x, ["conv1", "conv9"])):
        with pytest.raises(KeyError, match="conv9") as err:
            call()
        assert "conv1" in str(err.value) and "fc8" in str(err.value)
    with pytest.raises(ValueError, match=r"tower must be in \[0, 2\)"):
        cifar.tower_slice("conv1", 2)
    with pytest.raises(KeyError, match="conv9"):
        cifar.tower_slice("conv9", 0)


def test_tower_slices_cover_each_layers_channels(cifar):
    x = torch.randn(1, 3, 32, 32)
    acts = cifar.activations(x, ["conv1", "lrn1", "pool2", "conv3", "act5", "fc6"])
    for name, a in acts.items():
        c = a.shape[1]
        assert cifar.tower_slice(name, 0) == slice(0, c // 2), name
        assert cifar.tower_slice(name, 1) == slice(c // 2, c), name


@pytest.mark.parametrize("changes,message", [
    (dict(variant="vgg"), "choose from"),
    (dict(activation="gelu"), r"choose from \['relu', 'tanh'\]"),
    (dict(init="xavier"), "choose from"),
    (dict(towers=3), "towers must be 1 or 2"),
    (dict(num_classes=0), "num_classes must be at least 1"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(variant="torchvision"), "towers=1, lrn=False"),
    (dict(widths=(64, 128)), "widths needs 7 numbers"),
    (dict(widths=(63, 128, 192, 192, 128, 1024, 1024)), "split into 2 towers"),
])
def test_invalid_configs_raise_valueerror(changes, message):
    with pytest.raises(ValueError, match=message):
        CIFAR.replace(**changes)
