"""Feature maps of named layers and their per-channel summaries."""

import pytest
import torch
import torch.nn.functional as F

from alexnet.model import AlexNet, AlexNetConfig
from analysis.activations import channel_summary, feature_maps, layer_outputs


def test_feature_maps_against_torch_layers():
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, lrn=False, init="kaiming")).train()
    x = torch.randn(3, 3, 32, 32)
    c1 = model.layer("conv1")
    ref = F.max_pool2d(F.relu(F.conv2d(x, c1.weight, c1.bias, padding=2)), 3, 2, 1)  # (3, 64, 16, 16)
    torch.testing.assert_close(feature_maps(model, x, "pool1"), ref)
    out = layer_outputs(model, x, ["act7", "conv1"])
    assert out["act7"].shape == (3, 1024) and not out["act7"].requires_grad
    torch.testing.assert_close(out["conv1"], F.conv2d(x, c1.weight, c1.bias, padding=2))
    assert model.training


def test_channel_summary():
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    s = channel_summary(maps)
    torch.testing.assert_close(s.mean, torch.tensor([[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]]))
    torch.testing.assert_close(s.max, torch.tensor([[3.0, 7.0, 11.0], [15.0, 19.0, 23.0]]))
    assert s.strongest(2).tolist() == [[2, 1], [2, 1]]
    units = torch.tensor([[1.0, -2.0]])
    assert torch.equal(channel_summary(units).max, units)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        channel_summary(torch.zeros(3))


def test_bad_input():
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))
    with pytest.raises(KeyError, match="conv1, act1, lrn1"):
        feature_maps(model, torch.zeros(1, 3, 32, 32), "conv6")
    with pytest.raises(ValueError, match="float batch"):
        feature_maps(model, torch.zeros(3, 32, 32), "conv1")
