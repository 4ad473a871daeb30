"""Feature visualisation: a linear unit's maximiser worked by hand, the priors, the cache."""

from collections import OrderedDict
from dataclasses import replace

import pytest
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from alexnet.model import AlexNet, AlexNetConfig
from analysis.featvis import Settings, blur, shippable, visualise
from tests.nets import NARROW
PLAIN = Settings(steps=60, lr=0.05, jitter=0, blur_every=0, decay=0.0)  # no priors
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)


class Linear(nn.Module):
    """One 3x3 conv unit over a 7x7 picture, then a ReLU; kernel entries +-1."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(3, 2, 3, bias=False)),
                                                   ("act1", nn.ReLU())]))
        with torch.no_grad():
            w = torch.ones(2, 3, 3, 3)
            w[0, 0, 0, :] = -1  # channel 0: red top row negative
            w[0, 2, :, 1] = -1  # blue middle column negative
            self.features.conv1.weight.copy_(w)


def test_linear_unit_maximiser_is_its_kernels_sign_pattern():
    # A linear unit w . (p - mean) / std over the box [0, 1]: its maximum puts each
    # pixel of its receptive field at 1 where w > 0 and at 0 where w < 0 (std > 0
    # keeps the signs). The gradient is w / std: red pixels (the smallest std) move
    # lr = 0.05 per step, blue ones 0.2 / 0.5 of that, from about the mean, so 60
    # steps take every pixel to its corner. Pixels outside the
    # receptive field get no gradient and keep their start (mean + small noise).
    net = Linear()
    r = visualise(net, "act1", [0], size=7, mean=MEAN, std=STD, settings=PLAIN)
    seen = r.images[0, :, 2:5, 2:5]  # the 5x5 map's centre (2, 2) sees pixels 2..4
    expected = (net.features.conv1.weight[0] > 0).float()
    torch.testing.assert_close(seen, expected)
    outside = r.images[0].clone()
    outside[:, 2:5, 2:5] = torch.tensor(MEAN).view(3, 1, 1)
    torch.testing.assert_close(outside.mean((1, 2)), torch.tensor(MEAN), atol=0.03, rtol=0)
    # act1 is a ReLU: its input was maximised; the final value is the ReLU's output
    best = ((expected - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
            * net.features.conv1.weight[0]).sum()
    torch.testing.assert_close(r.value, best.view(1))


def test_dead_relu_unit_still_climbs():
    # Channel 0 starts off (bias -2 at a grey picture), so the ReLU's own gradient is 0;
    # optimising the input of the ReLU still finds the picture that turns it on.
    net = Linear()
    conv = nn.Conv2d(3, 2, 3)
    with torch.no_grad():
        conv.weight.copy_(net.features.conv1.weight)
        conv.bias.fill_(-2.0)
    net.features.conv1 = conv
    start = visualise(net, "act1", 0, size=7, mean=MEAN, std=STD, settings=replace(PLAIN, steps=1, lr=0.0))
    assert start.value[0] == 0 and start.history[0, 0] < 0  # off at the start
    r = visualise(net, "act1", 0, size=7, mean=MEAN, std=STD, settings=PLAIN)
    assert r.value[0] > 1.0


def test_decay_pulls_towards_the_mean_colour():
    net = Linear()
    s = Settings(steps=10, jitter=0, blur_every=0, decay=0.1)
    r = visualise(net, "act1", [1], size=7, mean=MEAN, std=STD, settings=s)
    start = visualise(net, "act1", [1], size=7, mean=MEAN, std=STD,
                      settings=Settings(steps=1, lr=0.0, jitter=0, blur_every=0, decay=0.0))
    m = torch.tensor(MEAN).view(3, 1, 1)
    corner = (slice(None), slice(0, 2), slice(0, 2))  # outside the centre unit's view: no gradient
    torch.testing.assert_close(r.images[0][corner] - m[:, :1, :1],
                               (start.images[0][corner] - m[:, :1, :1]) * 0.9 ** 10, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_blur_matches_torchvision_gaussian_blur(sigma):
    x = torch.rand(2, 3, 12, 12)
    r = max(1, int(torch.tensor(2 * sigma).ceil()))
    torch.testing.assert_close(blur(x, sigma), TF.gaussian_blur(x, [2 * r + 1] * 2, [sigma, sigma]),
                               atol=1e-5, rtol=1e-5)


def small_net():
    torch.manual_seed(0)
    return AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW)).eval()


def test_units_rise_and_do_not_depend_on_the_batch():
    net = small_net()
    s = Settings(steps=24)
    calls = []
    many = visualise(net, "act3", [1, 3, 5], size=32, settings=s, progress=lambda d, t: calls.append((d, t)))
    one = visualise(net, "act3", 3, size=32, settings=s)
    torch.testing.assert_close(one.images[0], many.images[1], atol=1e-4, rtol=0)
    assert calls == [(i, 24) for i in range(1, 25)]
    assert (many.history[:, -1] > many.history[:, 0] + 1).all()  # the objective climbed
    # and the final pictures beat random ones of the same kind for their own unit
    with torch.no_grad():
        rand = net.forward_until(torch.randn(8, 3, 32, 32) * 0.3, "act3")[:, [1, 3, 5], 4, 4].amax(0)
    assert (many.value > rand).all()
    assert many.images.min() >= 0 and many.images.max() <= 1


def test_fc_units_and_classes():
    net = small_net()
    r = visualise(net, "fc8", [2, 7], size=32, settings=Settings(steps=16))
    with torch.no_grad():
        from alexnet.data import CIFAR10_MEAN, CIFAR10_STD

        logits = net((r.images - torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
                     / torch.tensor(CIFAR10_STD).view(1, 3, 1, 1))
    torch.testing.assert_close(r.value, logits[[0, 1], [2, 7]])
    assert (r.value > r.history[:, 0] + 0.1).all()  # the logits rose from the grey start


def test_cache_is_per_unit_and_keyed_by_weights_and_settings(tmp_path):
    net = small_net()
    s = Settings(steps=6)
    a = visualise(net, "act2", [0, 1], size=32, settings=s, cache_dir=tmp_path)
    assert a.cached == [False, False] and len(list(tmp_path.glob("featvis-act2-*.pt"))) == 2
    b = visualise(net, "act2", [1, 2], size=32, settings=s, cache_dir=tmp_path)
    assert b.cached == [True, False]
    torch.testing.assert_close(b.images[0], a.images[1])
    assert visualise(net, "act2", [0], size=32, settings=Settings(steps=6, seed=1),
                     cache_dir=tmp_path).cached == [False]
    with torch.no_grad():
        net.layer("conv2").weight[0, 0, 0, 0] += 1.0
    assert visualise(net, "act2", [0], size=32, settings=s, cache_dir=tmp_path).cached == [False]
    with torch.no_grad():
        net.layer("fc7").weight.zero_()  # above act2: not part of the key
    assert visualise(net, "act2", [0], size=32, settings=s, cache_dir=tmp_path).cached == [True]
    for f in tmp_path.glob("featvis-act2-2-*.pt"):
        f.write_bytes(b"damaged")
    assert visualise(net, "act2", [2], size=32, settings=s, cache_dir=tmp_path).cached == [False]


def test_shipped_pictures_are_read_only_where_weights_and_settings_match(tmp_path):
    net = small_net()
    s = Settings(steps=6)
    shipped = shippable(net, "act2", [0, 1], size=32, settings=s)
    computed = visualise(net, "act2", [1, 2], size=32, settings=s)  # nothing read, nothing kept
    r = visualise(net, "act2", [1, 2], size=32, settings=s, shipped=shipped, cache_dir=tmp_path)
    assert r.cached == [True, False]
    torch.testing.assert_close(r.images, computed.images, atol=1 / 2048, rtol=0)  # float16 pictures
    torch.testing.assert_close(r.value, computed.value)
    torch.testing.assert_close(r.history, computed.history, atol=1e-2, rtol=1e-3)
    assert [p.name.split("-")[2] for p in tmp_path.glob("*.pt")] == ["2"]  # only computed ones kept
    assert visualise(net, "act2", [1], size=32, settings=Settings(steps=7),
                     shipped=shipped).cached == [False]
    with torch.no_grad():
        net.layer("conv1").weight[0, 0, 0, 0] += 1.0
    assert visualise(net, "act2", [1], size=32, settings=s, shipped=shipped).cached == [False]


def test_bad_arguments_name_the_choices():
    net = small_net()
    with pytest.raises(KeyError, match="conv1, act1"):
        visualise(net, "conv9", 0, size=32)
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        visualise(net, "act3", 32, size=32)
    with pytest.raises(ValueError, match="centre"):
        Settings(unit="corner")
    with pytest.raises(ValueError, match="steps"):
        Settings(steps=0)
