"""The weights registry: shipped checkpoint, torchvision format, refusals."""

import io
import json
import math
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import torch
import torchvision

from alexnet.checkpoint import CheckpointError, load_checkpoint, save_atomic
from alexnet.data import CIFAR10_CLASSES, BatchIterator, TensorDataset
from alexnet.evaluate import evaluate
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import (CIFAR10_FILE, CIFAR10_MANIFEST, WeightsUnavailable, load_cifar10,
                             load_imagenet, load_model, load_path, sha256)

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
shipped = pytest.mark.skipif(not CIFAR10_FILE.is_file(), reason="no shipped CIFAR-10 checkpoint yet")


@shipped
def test_shipped_checkpoint_loads_offline_and_matches_its_checksum():
    manifest = json.loads(CIFAR10_MANIFEST.read_text())
    assert sha256(CIFAR10_FILE) == manifest["sha256"]
    m = load_model("cifar10")
    assert m.classes == CIFAR10_CLASSES
    assert m.model.config.towers == 2 and m.model.config.variant == "cifar"
    assert not m.model.training


def _real_test_slice(per_class: int) -> TensorDataset:
    """The first ``per_class`` test images of each class, read from the shared archive."""
    from PIL import Image

    counts = {c: 0 for c in CIFAR10_CLASSES}
    images, labels = [], []
    with tarfile.open(SHARED_CIFAR) as tar:
        for member in tar:
            parts = member.name.split("/")
            if len(parts) < 4 or parts[-3] != "test" or not member.isfile():
                continue
            cls = parts[-2]
            if counts[cls] >= per_class:
                continue
            counts[cls] += 1
            with Image.open(tar.extractfile(member)) as im:
                images.append(torch.tensor(list(im.convert("RGB").getdata()),
                                           dtype=torch.uint8).view(32, 32, 3).permute(2, 0, 1))
            labels.append(CIFAR10_CLASSES.index(cls))
            if len(labels) == per_class * 10:
                break
    return TensorDataset(torch.stack(images), torch.tensor(labels), CIFAR10_CLASSES)


@shipped
@pytest.mark.skipif(not SHARED_CIFAR.is_file(), reason=f"{SHARED_CIFAR} not present")
def test_shipped_model_accuracy_agrees_with_manifest_on_real_test_images():
    m = load_model("cifar10")
    data = _real_test_slice(per_class=50)  # 500 images, balanced like the full test set
    batches = BatchIterator(data, 250, train=False, mean=m.mean, std=m.std).epoch(0)
    measured = 1 - evaluate(m.model, batches).top1
    claimed = m.info["test"]["top1_accuracy"]
    sigma = math.sqrt(claimed * (1 - claimed) / len(data))  # binomial sampling error
    assert abs(measured - claimed) < 4 * sigma, (measured, claimed)
    assert measured >= 0.75


def test_torchvision_state_dict_from_a_local_file_gives_imagenet_model(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None).eval()
    path = tmp_path / "alexnet-owt.pth"
    torch.save(tv.state_dict(), path)
    m = load_path(path)
    assert len(m.classes) == 1000 and m.classes[0] == "tench" and m.classes[-1] == "toilet tissue"
    assert m.input_size == 224
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(m.model(x), tv(x), rtol=1e-4, atol=1e-4)


def test_imagenet_offline_and_uncached_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="python -m alexnet.weights download imagenet"):
        load_imagenet(download=False)


def test_train_checkpoint_by_path_roundtrips(tmp_path):
    torch.manual_seed(1)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10)).eval()
    path = tmp_path / "last.pt"
    save_atomic({"model": model.state_dict(), "model_config": model.config.to_dict(),
                 "classes": list(CIFAR10_CLASSES), "epoch": 3}, path)
    m = load_model(str(path))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(m.model(x), model(x))
    assert m.info["epoch"] == 3


def test_wrong_architecture_is_refused(tmp_path):
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))
    cfg = AlexNetConfig(variant="cifar", num_classes=100).to_dict()  # says 100 classes
    save_atomic({"model": model.state_dict(), "model_config": cfg, "classes": ["x"] * 100},
                tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="different architecture"):
        load_path(tmp_path / "bad.pt")


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_corrupt_files_are_refused(tmp_path, damage):
    good = tmp_path / "good.pt"
    save_atomic({"model": AlexNet(AlexNetConfig(variant="cifar", num_classes=10)).state_dict()}, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes({"empty": b"", "truncated": data[: len(data) // 2],
                     "garbage": os.urandom(4096)}[damage])
    with pytest.raises(CheckpointError, match="empty|truncated|corrupt"):
        load_checkpoint(bad)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _Evil(marker)}, path)
    with pytest.raises(CheckpointError, match="could run code"):
        load_model(str(path))
    assert not marker.exists()


@shipped
def test_shipped_checkpoint_with_a_flipped_byte_fails_its_checksum(tmp_path):
    copy = tmp_path / CIFAR10_FILE.name
    shutil.copyfile(CIFAR10_FILE, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_cifar10(copy, CIFAR10_MANIFEST)


def test_unknown_name_lists_the_registry():
    with pytest.raises(CheckpointError, match="cifar10, imagenet"):
        load_model("resnet50")
