"""Adding a set of weights is one registration: load_model, available and the
CLI list pick it up, its preprocessing comes from the entry, and its checksum is enforced."""

import pytest
import torch

from alexnet import preprocessing, weights
from alexnet.checkpoint import CheckpointError
from alexnet.data import CIFAR10_CLASSES
from alexnet.registry import build_model


@pytest.fixture
def entry(tmp_path, monkeypatch):
    """The four-layer CNN's own state dict, registered as weights "cnn4-test" for this test only."""
    monkeypatch.setattr(weights, "_WEIGHTS", dict(weights._WEIGHTS))
    torch.manual_seed(0)
    net = build_model("cnn4", widths=(4, 4, 8)).eval()
    torch.save(net.state_dict(), tmp_path / "cnn4.pt")
    w = weights.register_weights(weights.Weights(
        name="cnn4-test", title="a test CNN", description="the four-layer CNN, random weights",
        model="cnn4", model_kwargs=dict(widths=(4, 4, 8)), preprocessing=preprocessing.CIFAR10,
        file=lambda: tmp_path / "cnn4.pt", missing="not here: {path}", classes=CIFAR10_CLASSES,
        sha256_prefix=weights.sha256(tmp_path / "cnn4.pt")[:8]))
    return w, net


def test_a_registered_entry_loads_by_name(entry, capsys):
    w, net = entry
    m = weights.load_model("cnn4-test")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m.model(x), net(x))
    assert not m.model.training and m.classes == CIFAR10_CLASSES and m.dataset == "cifar10"
    assert (m.mean, m.std, m.input_size) == (preprocessing.CIFAR10.mean, preprocessing.CIFAR10.std, 32)
    assert weights.available()["cnn4-test"]
    weights.main(["list"])
    assert "cnn4-test" in capsys.readouterr().out


def test_a_registered_entry_is_checked_and_says_when_missing(entry, tmp_path):
    w, _ = entry
    data = bytearray((tmp_path / "cnn4.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "cnn4.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        weights.load_model("cnn4-test")
    (tmp_path / "cnn4.pt").unlink()
    assert not weights.available()["cnn4-test"]
    assert w.missing_note() == f"not here: {tmp_path / 'cnn4.pt'}"
    with pytest.raises(weights.WeightsUnavailable, match="cnn4.pt is missing"):
        weights.load_model("cnn4-test")


def test_preprocessing_resizes_then_crops_as_the_entry_says():
    from PIL import Image

    image = Image.new("RGB", (64, 48), (255, 0, 0))
    for p in (preprocessing.CIFAR10, preprocessing.IMAGENET):
        x = p.transform(image)
        assert x.shape == (1, 3, p.input_size, p.input_size)
        red = (1.0 - p.mean[0]) / p.std[0]  # pure red, normalised by hand
        torch.testing.assert_close(x[0, 0], torch.full_like(x[0, 0], red), rtol=1e-5, atol=1e-5)
