"""alexnet.stages, the one surface: checked against torch's own Sequential slicing,
conv arithmetic and the paper's layer names."""

import pytest
import torch
from torch import nn

from alexnet.registry import build_model, model_entry, models
from alexnet.stages import geometry, rectified_maps, run_from, stage_geometry


@pytest.fixture(scope="module")
def cifar():
    torch.manual_seed(0)
    return build_model("alexnet_cifar", **model_entry("alexnet_cifar").small).eval()


def test_run_from_is_the_rest_of_the_sequentials(cifar):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pool2 = cifar.features[:8](x)  # conv1 .. pool2 by index, torch's own slicing
        torch.testing.assert_close(cifar.run_from("pool2", pool2), cifar.classifier(cifar.features[8:](pool2)))
        torch.testing.assert_close(run_from(cifar, "pool5", cifar.features(x)), cifar(x))
        act7 = cifar.forward_until(x, "act7")
        torch.testing.assert_close(cifar.run_from("act7", act7), cifar(x))  # dropout is identity in eval
        assert torch.equal(cifar.run_from("fc8", cifar(x)), cifar(x))  # nothing after the logits
    with pytest.raises(KeyError, match="conv9"):
        cifar.run_from("conv9", x)


def test_geometry_of_the_cifar_net(cifar):
    g = geometry(cifar)
    assert g["conv1"] == ((5, 5), (1, 1), (2, 2)) and g["pool1"] == ((3, 3), (2, 2), (1, 1))
    assert g["act1"] == ((1, 1), (1, 1), (0, 0))  # pointwise
    dilated = nn.Conv2d(1, 1, 3, stride=2, padding=1, dilation=2)
    assert stage_geometry(dilated) == ((5, 5), (2, 2), (1, 1))  # 2 * (3 - 1) + 1


def test_roles_and_rectified_maps(cifar):
    r = cifar.roles
    assert (r.first_conv, r.first_block, r.last_conv, r.penultimate, r.logits) == \
        ("conv1", "pool1", "act5", "act7", "fc8")
    assert r.towers == 2 and r.crossings == ("conv3", "fc6", "fc7", "fc8")  # AK Fig. 2
    assert rectified_maps(cifar) == ("act1", "act2", "act3", "act4", "act5")
    cnn4 = build_model("cnn4")
    assert rectified_maps(cnn4) == ("act1", "act2", "act3") and cnn4.roles.logits == "fc"


def test_registry_lists_the_nets_and_refuses_unknown_ones():
    names = list(models())  # in import order: a net file imported early registers early
    assert names[:3] == ["alexnet", "alexnet_cifar", "alexnet_torchvision"]
    assert {"cnn4", "zfnet", "zfnet_wide", "zfnet_cifar"} <= set(names)
    with pytest.raises(KeyError, match="alexnet_cifar"):
        build_model("resnet50")
