"""Deconvnet projection (ZF 2.1): a hand-worked net, captum, receptive fields."""

from collections import OrderedDict

import pytest
import torch
from captum.attr import NeuronDeconvolution
from torch import nn

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import TORCHVISION_CONFIG
from tests.nets import SMALL_FC
from analysis._layers import Box, receptive_field
from analysis.deconv import project

# captum warns that it sets requires_grad and hooks ReLUs; both are expected here.
pytestmark = pytest.mark.filterwarnings("ignore:.*(require gradients|backward hooks):UserWarning")


class Hand(nn.Module):
    """conv 2x2 -> ReLU -> max-pool 2x2/2 -> conv 2x2 -> ReLU, one channel, no biases."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 1, 2, bias=False)), ("act1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2, 2)),
            ("conv2", nn.Conv2d(1, 1, 2, bias=False)), ("act2", nn.ReLU())]))
        with torch.no_grad():
            self.features.conv1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
            self.features.conv2.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 2.0]]))


# Worked by hand. conv1 computes x[i,j] - x[i+1,j+1]; after ReLU:
#   [[0,1,0,1], [0,2,0,0], [1,0,0,2], [0,0,0,3]]
# pool1 -> [[2,1],[1,3]] with switches (1,1), (0,3), (2,0), (3,3);
# conv2 -> 2 - 1 + 0 + 6 = 7.
X = torch.tensor([[1, 2, 0, 1, 0],
                  [0, 3, 1, 0, 0],
                  [2, 0, 1, 2, 1],
                  [1, 1, 0, 3, 0],
                  [0, 2, 1, 0, 0]], dtype=torch.float32)[None, None]
# Down from act2 = 7: conv2^T gives 7 * w2 = [[7,-7],[0,14]]; unpooled to
# (1,1)=7, (0,3)=-7, (3,3)=14; the ReLU on the way down drops -7 although the
# forward value there was +1; conv1^T spreads 7 and 14 as [[1,0],[0,-1]].
EXPECTED = torch.tensor([[0, 0, 0, 0, 0],
                         [0, 7, 0, 0, 0],
                         [0, 0, -7, 0, 0],
                         [0, 0, 0, 14, 0],
                         [0, 0, 0, 0, -14]], dtype=torch.float32)[None, None]


def test_hand_worked_example():
    p = project(Hand(), X, "act2", 0)
    assert p.value.tolist() == [7.0]
    assert p.position.tolist() == [[0, 0]]
    torch.testing.assert_close(p.pixels, EXPECTED)
    assert p.boxes == [Box(0, 0, 5, 5)]


def test_hand_worked_pool_unit_and_batch():
    # pool1 unit (1, 1) = 3 comes from a1[3,3]; conv1^T puts +3 at (3,3) and -3 at (4,4).
    x = torch.cat([X, 2 * X])
    p = project(Hand(), x, "pool1", 0, position=(1, 1))
    expected = torch.zeros(2, 1, 5, 5)
    expected[:, 0, 3, 3], expected[:, 0, 4, 4] = 3.0, -3.0
    expected[1] *= 2
    torch.testing.assert_close(p.pixels, expected)
    assert p.boxes == [Box(2, 2, 5, 5)] * 2  # rows/cols 2..4 of the 5x5 image


def _captum(model, x, layer, c, y, xx):
    return NeuronDeconvolution(model, model.layer(layer)).attribute(x, neuron_selector=(c, y, xx))


@pytest.mark.parametrize("layer", ["conv2", "act3", "pool2", "pool5"])
def test_matches_captum_cifar_without_lrn(layer):
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, lrn=False, init="kaiming")).eval()
    x = torch.randn(3, 3, 32, 32)
    channel = 5
    p = project(model, x, layer, channel)
    for i in range(len(x)):
        assert p.value[i] > 0, "pick a unit that is active so the scales compare"
        y, xx = p.position[i].tolist()
        ref = _captum(model, x[i:i + 1], layer, channel, y, xx)
        # captum starts from 1, we start from the activation itself.
        torch.testing.assert_close(p.pixels[i:i + 1] / p.value[i], ref, rtol=1e-4, atol=1e-6)
    assert not model.training


def test_matches_captum_torchvision_variant():
    torch.manual_seed(1)
    model = AlexNet(TORCHVISION_CONFIG.replace(init="kaiming", widths=SMALL_FC)).train()  # mode is left alone
    x = torch.randn(1, 3, 224, 224)
    p = project(model, x, "act5", 16)
    assert p.value[0] > 0
    y, xx = p.position[0].tolist()
    model.eval()  # captum through dropout-free features: the mode does not matter there
    ref = _captum(model, x, "act5", 16, y, xx)
    torch.testing.assert_close(p.pixels / p.value[0], ref, rtol=1e-4, atol=1e-6)


def test_does_not_touch_model_and_lrn_is_skipped():
    torch.manual_seed(2)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming")).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    p = project(model, x, "pool2", 3)
    assert model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # LRN is skipped going down (ZF 2.1): from lrn1 the projection is the one
    # from act1 at the same unit, scaled by the value kept. Applying LRN or its
    # derivative on the way down would add a factor of about 2 ** -0.75.
    b = project(model, x, "act1", 6)
    a = project(model, x, "lrn1", 6, b.position)
    assert (b.value > 0).all() and not torch.allclose(a.value, b.value)
    torch.testing.assert_close(a.pixels / a.value[:, None, None, None],
                               b.pixels / b.value[:, None, None, None])
    assert p.pixels.shape == x.shape


def test_receptive_fields_textbook_alexnet():
    # torchvision AlexNet: RF 11, 19, 51, 67, 99, 131, 163, 195 (stride 4 then pools x2).
    model = AlexNet(TORCHVISION_CONFIG.replace(widths=SMALL_FC))
    sizes = {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99,
             "conv4": 131, "conv5": 163, "pool5": 195}
    for layer, s in sizes.items():
        box = receptive_field(model, layer, 2, 3)
        assert box.size == (s, s), layer
    assert receptive_field(model, "conv1", 0, 0) == Box(-2, -2, 9, 9)  # padding 2
    assert receptive_field(model, "conv1", 0, 0).clip(224, 224) == Box(0, 0, 9, 9)


@pytest.mark.parametrize("activation", ["relu", "tanh"])  # tanh: no captum reference, still rectified
def test_projection_lies_in_receptive_field(activation):
    torch.manual_seed(3)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", activation=activation))
    x = torch.randn(4, 3, 32, 32)
    for layer in ("conv2", "pool2", "act4"):
        p = project(model, x, layer, 1)  # the strongest unit, so that it is positive
        assert (p.value > 0).all()
        for i, box in enumerate(p.boxes):
            outside = p.pixels[i].abs().clone()
            outside[:, box.top:box.bottom, box.left:box.right] = 0
            assert outside.max() == 0 and p.pixels[i].abs().max() > 0


def test_bad_input_names_choices():
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))
    x = torch.randn(1, 3, 32, 32)
    forward_passes = []  # a bad name, channel or batch is refused before any work is done
    handle = model.layer("conv1").register_forward_pre_hook(lambda *a: forward_passes.append(1))
    try:
        with pytest.raises(KeyError, match="conv1, act1"):
            project(model, x, "conv9", 0)
        with pytest.raises(KeyError, match="pool5"):
            project(model, x, "fc6", 0)  # not a spatial map
        with pytest.raises(ValueError, match=r"\[0, 128\)"):
            project(model, x, "conv5", 128)
        with pytest.raises(ValueError, match="float batch"):
            project(model, torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "conv2", 0)
        assert not forward_passes
        with pytest.raises(ValueError, match="16x16"):  # the map's size is known only after the pass
            project(model, x, "conv2", 0, position=(16, 0))
    finally:
        handle.remove()
