"""Feature evolution over training snapshots (ZF Fig. 4)."""

import pytest
import torch

from alexnet.checkpoint import CheckpointError, save_atomic
from alexnet.data import CIFAR10_CLASSES, TensorDataset, normalize
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.train import conv_snapshot
from analysis.deconv import project
from analysis.evolution import evolution, load_snapshots, with_features

CONFIG = AlexNetConfig(variant="cifar", num_classes=10, init="kaiming")


def _half_exact(seed):
    """A random model whose weights survive the half-precision snapshot unchanged."""
    torch.manual_seed(seed)
    m = AlexNet(CONFIG).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.half().float())
    return m


@pytest.fixture
def run(tmp_path):
    models = {1: _half_exact(1), 5: _half_exact(5)}
    for epoch, m in models.items():
        save_atomic({"epoch": epoch, "model_config": CONFIG.to_dict(), "features": conv_snapshot(m)},
                    tmp_path / f"epoch{epoch:03d}.pt")
    (tmp_path / "notes.txt").write_text("not a snapshot")
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g),
                         torch.zeros(12, dtype=torch.long), CIFAR10_CLASSES)
    return tmp_path, models, data


@pytest.mark.parametrize("precomputed", [False, True])
def test_projection_at_each_epoch_matches_that_model(run, precomputed):
    """Also with the strongest images found beforehand and kept as top-1 tables, as the app
    ships them (analysis.page_data.compute_evolution)."""
    from analysis.page_data import compute_evolution
    from analysis.top9 import LayerScan

    folder, models, data = run
    caller = _half_exact(9).train()
    before = {k: v.clone() for k, v in caller.state_dict().items()}
    snaps = load_snapshots(folder, caller)
    assert [e for e, _ in snaps] == [1, 5]
    units = [("act2", 3), ("pool5", 7), ("act2", 10)]
    scans = None
    if precomputed:
        scans = {}
        for layer in ("act2", "pool5"):
            t = compute_evolution(caller, snaps, data.images, layer, (0.4914, 0.4822, 0.4465),
                                  (0.2470, 0.2435, 0.2616))
            scans.update({(e, layer): LayerScan.from_table(t[str(e)]) for e in t["epochs"]})
    result = evolution(caller, snaps, data, units, batch_size=5, scans=scans)
    assert caller.training
    assert all(torch.equal(v, before[k]) for k, v in caller.state_dict().items())
    x = normalize(data.images)
    for u in result:
        assert u.epochs == [1, 5]
        for j, epoch in enumerate(u.epochs):
            m = models[epoch]
            acts = m.forward_until(x, u.layer).detach()[:, u.channel].flatten(1)  # (N, H*W)
            best = int(acts.amax(1).argmax())
            assert u.image_index[j] == best
            direct = project(m, x[best:best + 1], u.layer, u.channel)
            torch.testing.assert_close(u.value[j], direct.value[0])
            assert u.position[j].tolist() == direct.position[0].tolist()
            torch.testing.assert_close(u.projection[j], direct.pixels[0])
    assert [(u.layer, u.channel) for u in result] == units


def test_with_features_copies(run):
    folder, models, _ = run
    caller = _half_exact(9)
    (_, first), _ = load_snapshots(folder)
    net = with_features(caller, first)
    assert torch.equal(net.layer("conv3").weight, models[1].layer("conv3").weight)
    assert not torch.equal(caller.layer("conv3").weight, net.layer("conv3").weight)
    assert torch.equal(net.layer("fc6").weight, caller.layer("fc6").weight)  # head kept


def test_snapshot_errors(tmp_path, run):
    folder, _, data = run
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_snapshots(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="--snapshot-epochs"):
        load_snapshots(tmp_path / "empty")
    other = AlexNet(CONFIG.replace(lrn=False))
    with pytest.raises(ValueError, match="different net"):
        load_snapshots(folder, other)
    tiny = AlexNet(CONFIG.replace(widths=(32, 64, 96, 96, 64, 128, 128)))
    with pytest.raises(ValueError, match="do not fit"):
        evolution(tiny, load_snapshots(folder), data, [("conv1", 0)])
    with pytest.raises(KeyError, match="pool5"):
        evolution(other, load_snapshots(folder), data, [("fc6", 0)])
    with pytest.raises(ValueError, match=r"\[0, 64\)"):
        evolution(other, load_snapshots(folder), data, [("conv1", 64)])
    with pytest.raises(ValueError, match="no snapshots"):
        evolution(other, [], data, [("conv1", 0)])
    (folder / "epoch007.pt").write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match="epoch007"):
        load_snapshots(folder)
