"""Attribution methods against hand-worked 4x4 cases, autograd by hand, and their identities.

captum computes the methods; nothing here compares against captum.
"""

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet.model import AlexNet, AlexNetConfig
from analysis import attribution as A
from tests.nets import NARROW


class OneReLU(nn.Module):
    """4x4 image -> conv 2x2 (one channel, no bias) -> ReLU -> fc 9 -> 1."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 1, 2, bias=False)),
                                                   ("act1", nn.ReLU())]))
        self.classifier = nn.Sequential(OrderedDict([("flatten", nn.Flatten()),
                                                     ("fc", nn.Linear(9, 1, bias=False))]))
        with torch.no_grad():
            self.features.conv1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
            self.classifier.fc.weight.copy_(W.flatten()[None])


# Worked by hand. conv1 computes a[i,j] = x[i,j] - x[i+1,j+1]; X is built so that
# a = [[1,-1,2],[-2,1,-1],[1,2,-1]] (no zeros: ReLU's derivative at 0 is a convention),
# so the forward ReLU mask is [[1,0,1],[0,1,0],[1,1,0]]. The signal arriving at the
# ReLU's output is fc's weights W. Going down through the ReLU:
#   deconvnet  relu(W)        = [[1,0,1],[1,0,2],[0,1,1]]
#   guided     relu(W) * mask = [[1,0,1],[0,0,0],[0,1,0]]
#   gradient   W * mask       = [[1,0,1],[0,-1,0],[-1,1,0]]
# and conv1 transposed puts s[i,j] at (i,j) and -s[i,j] at (i+1,j+1).
X = torch.tensor([[3, -1, 2, 1], [0, 2, 0, 0], [2, 2, 1, 1], [0, 1, 0, 2]], dtype=torch.float32)[None, None]
W = torch.tensor([[1, -2, 1], [1, -1, 2], [-1, 1, 1]], dtype=torch.float32)
DECONV = torch.tensor([[1, 0, 1, 0], [1, -1, 2, -1], [0, 0, 1, -2], [0, 0, -1, -1]], dtype=torch.float32)
GUIDED = torch.tensor([[1, 0, 1, 0], [0, -1, 0, -1], [0, 1, 0, 0], [0, 0, -1, 0]], dtype=torch.float32)
GRADIENT = torch.tensor([[1, 0, 1, 0], [0, -2, 0, -1], [-1, 1, 1, 0], [0, 1, -1, 0]], dtype=torch.float32)


def test_hand_worked_4x4_relu_rules():
    net = OneReLU()
    torch.testing.assert_close(A.deconvnet(net, X, 0).pixels[0, 0], DECONV)
    torch.testing.assert_close(A.guided_backprop(net, X, 0).pixels[0, 0], GUIDED)
    s = A.saliency(net, X, 0)
    torch.testing.assert_close(s.pixels[0, 0], GRADIENT.abs())
    torch.testing.assert_close(s.heat[0], GRADIENT.abs())  # one colour channel: max over it is itself


def test_guided_backprop_is_the_deconvnet_signal_masked_by_the_forward_relus():
    # Springenberg et al. 2015, Fig. 1: with one ReLU layer both signals can be
    # written down; conv_transpose2d (torch's own op) carries them to pixels.
    torch.manual_seed(0)
    net = OneReLU()
    with torch.no_grad():
        net.features.conv1.weight.normal_()
        net.classifier.fc.weight.normal_()
    x = torch.randn(3, 1, 4, 4)
    k = net.features.conv1.weight
    a = F.conv2d(x, k)  # (3, 1, 3, 3) forward, before the ReLU
    g = net.classifier.fc.weight.view(1, 1, 3, 3).expand_as(a)  # the signal arriving at the ReLU
    deconv_signal = F.relu(g)
    torch.testing.assert_close(A.deconvnet(net, x, 0).pixels, F.conv_transpose2d(deconv_signal, k))
    torch.testing.assert_close(A.guided_backprop(net, x, 0).pixels,
                               F.conv_transpose2d(deconv_signal * (a > 0), k))


def test_deconvnet_of_a_unit_is_the_hand_worked_zf_projection():
    # test_deconv's hand net: the ZF projection of act2 (value 7) is EXPECTED; captum's
    # deconvnet starts from 1 instead of the unit's value, and the net has no LRN.
    from tests.test_deconv import EXPECTED, Hand, X as X5

    d = A.deconvnet(Hand(), X5, 0, layer="act2")
    torch.testing.assert_close(d.pixels, EXPECTED / 7)
    assert d.position.tolist() == [[0, 0]]


def small_net(**kw):
    torch.manual_seed(0)
    return AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW, **kw)).eval()


def test_saliency_is_the_absolute_autograd_gradient_of_a_class_and_a_unit():
    net = small_net()
    x = torch.randn(2, 3, 32, 32)
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(xr)[:, 4].sum(), xr)
    s = A.saliency(net, x, 4)
    torch.testing.assert_close(s.pixels, g.abs())
    torch.testing.assert_close(s.heat, g.abs().amax(1))
    # a unit: act3 map 5 at each image's own strongest position
    a = net.forward_until(x, "act3")[:, 5]
    flat = a.flatten(1).argmax(1)
    y, xx = flat // a.shape[2], flat % a.shape[2]
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net.forward_until(xr, "act3")[[0, 1], 5, y, xx].sum(), xr)
    u = A.saliency(net, x, 5, layer="act3")
    assert u.position.tolist() == torch.stack([y, xx], 1).tolist()
    torch.testing.assert_close(u.pixels, g.abs())
    assert not x.requires_grad


def test_gradcam_by_hand_with_autograd():
    net = small_net()
    x = torch.randn(2, 3, 32, 32)
    targets = torch.tensor([1, 7])
    a = net.forward_until(x, "act5").detach().requires_grad_(True)  # (2, 32, 4, 4)
    y = a
    for name, m in list(net.features.named_children())[list(net.features._modules).index("act5") + 1:]:
        y = m(y)
    y = net.classifier(y)
    (g,) = torch.autograd.grad(y[[0, 1], targets].sum(), a)
    alpha = g.mean((2, 3), keepdim=True)  # (2, 32, 1, 1): Selvaraju et al. eq. 1
    cam = F.relu((alpha * a).sum(1, keepdim=True))  # eq. 2
    expected = F.interpolate(cam, size=(32, 32), mode="bilinear")
    r = A.gradcam(net, x, targets)
    assert A.cam_layer(net) == "act5"
    torch.testing.assert_close(r.pixels, expected.detach())
    torch.testing.assert_close(r.heat, expected[:, 0].detach())


def test_gradcam_on_the_one_relu_net_by_hand():
    # A = relu(a) = [[1,0,2],[0,1,0],[1,2,0]]; dY/dA = W, mean(W) = 3/9, so cam = A / 3.
    r = A.gradcam(OneReLU(), X, 0)
    cam = torch.tensor([[1, 0, 2], [0, 1, 0], [1, 2, 0]], dtype=torch.float32)[None, None] / 3
    torch.testing.assert_close(r.pixels, F.interpolate(cam, size=(4, 4), mode="bilinear"))


def test_integrated_gradients_of_a_linear_net_is_input_times_weight():
    net = OneReLU()
    net.features.act1 = nn.Identity()  # linear: the gradient is the same all along the path
    ig = A.integrated_gradients(net, X, 0, steps=3)
    # y = sum_ij W_ij (x_ij - x_i+1,j+1), so dy/dx = GRADIENT without the mask:
    grad = F.conv_transpose2d(W[None, None], net.features.conv1.weight)[0, 0]
    torch.testing.assert_close(ig.pixels[0, 0], X[0, 0] * grad)


@pytest.mark.parametrize("layer,target", [(None, 3), ("act4", 2), ("fc7", 9)])
def test_integrated_gradients_completeness(layer, target):
    # Sundararajan et al. 2017, prop. 1: attributions add up to F(x) - F(baseline).
    net = small_net()
    x = torch.randn(2, 3, 32, 32)
    r = A.integrated_gradients(net, x, target, layer=layer, steps=128)
    with torch.no_grad():
        out = net.forward_until(x, layer or "fc8")
        base = net.forward_until(torch.zeros_like(x), layer or "fc8")
    if out.dim() == 4:
        rows, (y, xx) = torch.arange(2), r.position.T
        f, f0 = out[rows, target, y, xx], base[rows, target, y, xx]
    else:
        f, f0 = out[:, target], base[:, target]
    total = r.pixels.sum((1, 2, 3))
    torch.testing.assert_close(total, f - f0, rtol=0.02, atol=0.02 * float((f - f0).abs().max()))


def test_class_and_unit_checks_and_reasons():
    net = small_net()
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        A.saliency(net, x, 10)
    with pytest.raises(KeyError, match="conv1, act1"):
        A.saliency(net, x, 0, layer="conv9")
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        A.saliency(net, x, 32, layer="act3")
    with pytest.raises(ValueError, match="below act1"):
        A.gradcam(net, x, 0, layer="act1")
    assert A.cam_layer(net, "act3") == "act2"
    tanh = small_net(activation="tanh")
    out = A.attribute_all(tanh, x, 0)
    assert "no ReLU" in out["guided_backprop"] and "no ReLU" in out["deconvnet"]
    assert out["saliency"].pixels.shape == x.shape
    assert A.cam_layer(tanh) == "act5"  # tanh stages rectify maps too: Grad-CAM still runs


def test_all_methods_run_on_the_torchvision_alexnet():
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None, num_classes=5).eval()
    x = torch.randn(1, 3, 224, 224)
    out = A.attribute_all(tv, x, 2, steps=4)
    assert all(not isinstance(v, str) for v in out.values()), out
    assert out["gradcam"].pixels.shape == (1, 1, 224, 224)
    assert all(v.pixels.shape[-2:] == (224, 224) for v in out.values())


class FailsAfter(nn.Module):
    """Stands in for a stage: works ``ok`` times, then fails (inside captum's hooked pass)."""

    def __init__(self, inner, ok=1):
        super().__init__()
        self.inner, self.ok = inner, ok

    def forward(self, x):
        if self.ok == 0:
            raise RuntimeError("conv3 failed")
        self.ok -= 1
        return self.inner(x)


@pytest.mark.parametrize("layer", [None, "act5"])
@pytest.mark.parametrize("method", A.METHODS)
def test_no_hook_left_when_captum_fails_half_way(method, layer):
    from tests.test_analysis_contract import _same, _state

    net = small_net()
    # A class target needs no forward pass of ours; a unit's lookup runs once first.
    # Either way captum's own hooked pass is the one that fails.
    net.features.conv3 = FailsAfter(net.features.conv3, ok=0 if layer is None else 1)
    before = _state(net)
    with pytest.raises(RuntimeError, match="conv3 failed"):
        A.FUNCTIONS[method](net, torch.randn(2, 3, 32, 32), 1, layer=layer)
    _same(_state(net), before)
