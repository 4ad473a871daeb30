"""Top-9 activations (ZF Fig. 2): brute force, the disk cache, patches."""

import pytest
import torch

from alexnet.data import CIFAR10_CLASSES, TensorDataset, normalize
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import TORCHVISION_CONFIG
from tests.nets import SMALL_FC
from analysis.deconv import project
from analysis.top9 import scan_layer, top9



def _data(n=24, side=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g)
    return TensorDataset(images, torch.zeros(n, dtype=torch.long), CIFAR10_CLASSES)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", **kw)).eval()


@pytest.mark.parametrize("layer,channel", [("act2", 7), ("pool5", 3), ("conv3", 11)])
def test_top9_equals_brute_force(layer, channel):
    model, data = _model(), _data()
    acts = model.forward_until(normalize(data.images), layer).detach()  # (N, C, H, W)
    per_image = acts[:, channel].flatten(1)  # (N, H*W)
    best, where = per_image.max(dim=1)
    order = torch.argsort(best, descending=True, stable=True)[:9]
    w = acts.shape[-1]

    found = top9(model, layer, channel, data, batch_size=5)  # batches that do not divide N
    assert [t.image_index for t in found] == order.tolist()
    torch.testing.assert_close(torch.tensor([t.value for t in found]), best[order])
    assert [t.position for t in found] == [divmod(int(where[i]), w) for i in order]
    # Each projection is the deconvnet's projection of that very unit, cropped.
    for t in found:
        p = project(model, normalize(data.images[t.image_index:t.image_index + 1]), layer, channel,
                    position=t.position)
        torch.testing.assert_close(p.value[0], torch.tensor(t.value))
        b = t.box
        torch.testing.assert_close(t.projection, p.pixels[0, :, b.top:b.bottom, b.left:b.right])


def test_patches_lie_inside_the_image():
    model, data = _model(), _data()
    for layer in ("conv1", "pool2", "act5"):
        for t in top9(model, layer, 2, data):
            b = t.box
            assert 0 <= b.top < b.bottom <= 32 and 0 <= b.left < b.right <= 32
            assert t.patch.shape == t.projection.shape == (3, b.bottom - b.top, b.right - b.left)
            assert t.patch.dtype == torch.uint8
            assert torch.equal(t.patch, data.images[t.image_index, :, b.top:b.bottom, b.left:b.right])


def test_cache_is_reused_and_keyed(tmp_path):
    model, data = _model(), _data()
    calls = []
    handle = model.layer("conv1").register_forward_hook(lambda *a: calls.append(1))
    try:
        first = scan_layer(model, "act3", data, batch_size=10, cache_dir=tmp_path)
        assert len(calls) == 3 and len(list(tmp_path.glob("scan-act3-*.pt"))) == 1
        again = scan_layer(model, "act3", data, batch_size=10, cache_dir=tmp_path)
        assert len(calls) == 3  # read from disk, no forward pass
        assert torch.equal(first.values, again.values) and torch.equal(first.positions, again.positions)
        assert first.map_size == again.map_size == (8, 8)
        found = top9(model, "act3", 4, data, cache_dir=tmp_path)
        assert len(calls) == 4  # only the projection's forward pass
        # Other images, other weights, other layer: a new scan each.
        scan_layer(model, "act3", _data(seed=1), cache_dir=tmp_path)
        with torch.no_grad():
            model.layer("conv2").weight[0, 0, 0, 0] += 1
        changed = scan_layer(model, "act3", data, cache_dir=tmp_path)
        scan_layer(model, "act4", data, cache_dir=tmp_path)
        assert len(calls) == 7 and len(list(tmp_path.glob("scan-*.pt"))) == 4
        assert not torch.equal(changed.values, first.values)
    finally:
        handle.remove()
    assert [t.value for t in found] == first.values[:, 4].sort(descending=True).values[:9].tolist()
    # No caching unless asked.
    scan_layer(model, "act2", data)
    assert len(list(tmp_path.glob("scan-act2-*"))) == 0


def test_damaged_cache_is_recomputed(tmp_path):
    model, data = _model(), _data(n=6)
    fresh = scan_layer(model, "pool1", data, cache_dir=tmp_path)
    (path,) = tmp_path.glob("scan-pool1-*.pt")
    path.write_bytes(b"not a checkpoint")
    again = scan_layer(model, "pool1", data, cache_dir=tmp_path)
    assert torch.equal(fresh.values, again.values)
    assert torch.load(path, weights_only=True)["values"].shape == (6, 64)


def test_float_images_and_torchvision_variant():
    torch.manual_seed(0)
    model = AlexNet(TORCHVISION_CONFIG.replace(init="kaiming", widths=SMALL_FC)).train()
    x = torch.randn(3, 3, 224, 224)
    found = top9(model, "pool5", 10, x)
    assert model.training
    assert len(found) == 3  # fewer images than nine: all of them
    assert [t.value for t in found] == sorted((t.value for t in found), reverse=True)
    assert all(t.patch.dtype == torch.float32 and t.box.size[0] <= 195 for t in found)


def test_bad_input(tmp_path):
    model, data = _model(), _data(n=4)
    scan = scan_layer(model, "conv1", data)
    forward_passes = []  # bad arguments are refused before any scan or projection runs
    handle = model.layer("conv1").register_forward_pre_hook(lambda *a: forward_passes.append(1))
    try:
        with pytest.raises(KeyError, match="act5, pool5"):
            top9(model, "fc7", 0, data)
        with pytest.raises(ValueError, match=r"\[0, 64\)"):
            top9(model, "conv1", 64, data)
        with pytest.raises(ValueError, match="non-empty"):
            scan_layer(model, "conv1", torch.zeros(0, 3, 32, 32, dtype=torch.uint8))
        with pytest.raises(ValueError, match="not of 'conv2'"):
            top9(model, "conv2", 0, data, scan=scan)
        for k in (0, -1, 2.5):
            with pytest.raises(ValueError, match="k must be a positive integer"):
                top9(model, "conv1", 0, data, k=k)
        assert not forward_passes
    finally:
        handle.remove()
    assert len(top9(model, "conv1", 0, data, scan=scan)) == 4  # 9 asked, 4 images
    # A scan that fails inside the forward pass (one colour channel) leaves no cache file.
    with pytest.raises(RuntimeError):
        scan_layer(model, "pool5", torch.zeros(2, 1, 32, 32), cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_shipped_table_gives_the_same_top9_as_brute_force():
    """LayerScan.table keeps only the nine best per map; a scan rebuilt from it (as the app
    does from pretrained/page_data.pt) ranks and projects exactly as brute force does."""
    from analysis.top9 import LayerScan

    model, data = _model(1), _data(30)
    layer = "act3"
    acts = model.forward_until(normalize(data.images), layer).detach()  # (N, C, H, W)
    table = scan_layer(model, layer, data).table(9)
    assert table["index"].shape == (acts.shape[1], 9)
    rebuilt = LayerScan.from_table({k: v.int() if k in ("index", "position") else v
                                    for k, v in table.items()})  # int32, as shipped
    for channel in (0, 5, 191):
        best, where = acts[:, channel].flatten(1).max(dim=1)
        order = torch.argsort(best, descending=True, stable=True)[:9]
        found = top9(model, layer, channel, data, scan=rebuilt)
        assert [t.image_index for t in found] == order.tolist()
        assert [t.position for t in found] == [divmod(int(where[i]), acts.shape[-1]) for i in order]
        torch.testing.assert_close(torch.tensor([t.value for t in found]), best[order])
