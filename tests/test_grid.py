"""The activation grid: every map of a layer, strongest first within each tower."""

import pytest
import torch

from alexnet.model import AlexNet, AlexNetConfig
from analysis.grid import activation_grid, tower_channels
from tests.nets import NARROW


@pytest.mark.parametrize("towers", [1, 2])
def test_maps_ranked_by_maximum_per_tower(towers):
    torch.manual_seed(0)
    net = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW,
                                towers=towers)).eval()
    x = torch.randn(2, 3, 32, 32)
    g = activation_grid(net, x, "act2")
    with torch.no_grad():
        ref = net.forward_until(x, "act2")  # (2, 32, 16, 16) or (2, 16, ...) for one tower
    torch.testing.assert_close(g.maps, ref)
    c = ref.shape[1]
    halves = [range(0, c // 2), range(c // 2, c)] if towers == 2 else [range(c)]
    assert g.towers == halves
    for i in range(2):
        for t, r in enumerate(halves):
            peak = {ch: float(ref[i, ch].max()) for ch in r}
            expected = sorted(r, key=lambda ch: -peak[ch])  # Python's own sort, strongest first
            assert g.order[t][i].tolist() == expected


def test_torchvision_alexnet_is_one_tower():
    import torchvision

    tv = torchvision.models.alexnet(weights=None).eval()
    g = activation_grid(tv, torch.randn(1, 3, 224, 224), "act5")
    assert g.maps.shape == (1, 256, 13, 13) and g.towers == [range(256)]
    assert len(g.order) == 1 and sorted(g.order[0][0].tolist()) == list(range(256))


def test_only_spatial_layers():
    net = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, widths=NARROW))
    with pytest.raises(KeyError, match="pool5"):
        activation_grid(net, torch.randn(1, 3, 32, 32), "fc6")
    assert tower_channels(net, "pool5") == [range(0, 16), range(16, 32)]
