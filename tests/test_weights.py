"""The weights registry: shipped checkpoint, torchvision format, refusals."""

import gzip
import json
import math
import os
import pickle
import random
import re
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import torch
import torchvision

from alexnet.checkpoint import CheckpointError, load_checkpoint, save_atomic
from alexnet.data import CIFAR10_CLASSES, BatchIterator, TensorDataset
from alexnet import weights
from alexnet.evaluate import evaluate
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import (CIFAR10_FILE, CIFAR10_MANIFEST, WeightsUnavailable, load_cifar10,
                             load_imagenet, load_model, load_path, sha256)

# Real CIFAR-10 where the app and the experiments look for it (README, Experiments).
CIFAR10_TEST = Path(os.environ.get("ALEXNET_DATA_DIR", "~/.cache/alexnet-data/cifar10")).expanduser() / "test"
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
    """The first ``per_class`` test images of each class (by file name) of the real CIFAR-10."""
    from PIL import Image

    images, labels = [], []
    for label, cls in enumerate(CIFAR10_CLASSES):
        for path in sorted((CIFAR10_TEST / cls).iterdir())[:per_class]:
            with Image.open(path) as im:
                images.append(torch.tensor(list(im.convert("RGB").getdata()),
                                           dtype=torch.uint8).view(32, 32, 3).permute(2, 0, 1))
            labels.append(label)
    return TensorDataset(torch.stack(images), torch.tensor(labels), CIFAR10_CLASSES)


@shipped
@pytest.mark.skipif(not CIFAR10_TEST.is_dir(), reason=f"no CIFAR-10 test images in {CIFAR10_TEST} "
                    "(set ALEXNET_DATA_DIR to a folder holding test/<class>/)")
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
    with pytest.raises(WeightsUnavailable, match="bash run.sh download imagenet-weights"):
        load_imagenet()


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


# --- Refusals: each kind of bad file gets its own message (issue #4). -----------------
# Messages are matched with the file's path cut out: pytest's tmp folders carry the
# test's name, which could otherwise satisfy a pattern on its own.
REFUSALS = {
    "not_checkpoint": r"^FILE is not a PyTorch checkpoint \(its first bytes look like ",
    "damaged": r"^FILE is damaged or truncated \(.+\): download or copy it again",
    "code": r"^FILE carries Python code or objects besides weights \(.+\), refused for safety",
    "empty": r"^FILE is empty \(0 bytes\)",
    "folder": r"^FILE is a folder, not a checkpoint file",
    "missing": r"^checkpoint FILE does not exist: check the path",
}


def _refusal(path, load=load_checkpoint, error=CheckpointError) -> str:
    with pytest.raises(error) as e:
        load(path)
    return str(e.value).replace(str(path), "FILE")


def load_model_str(path):
    """``load_model`` as the command line and the app call it, with a path."""
    return load_model(str(path))


def _assert_kind(msg: str, kind: str) -> None:
    """``msg`` says ``kind`` and none of the other refusals."""
    assert re.search(REFUSALS[kind], msg), msg
    others = [k for k, pattern in REFUSALS.items() if k != kind and re.search(pattern, msg)]
    assert not others, (others, msg)
    assert "weights_only" not in msg, msg  # never torch's advice to turn the safety off


def _train_checkpoint(**changes) -> dict:
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10))
    return {"model": model.state_dict(), "model_config": model.config.to_dict(),
            "classes": list(CIFAR10_CLASSES), "epoch": 1, **changes}


def _member_data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where a zip member's bytes start: after its local header (30 bytes, name, extra)."""
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


@pytest.mark.parametrize("kind, content, looks_like", [
    ("text", b"hello world\n", "plain text"),
    ("html", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
     "an HTML web page"),
    ("json", json.dumps({"sha256": "00", "file": "x.pt"}).encode(), "JSON text"),
    ("gzip", gzip.compress(b"not a checkpoint" * 100), "gzip-compressed data"),
    ("plain pickle", pickle.dumps({"features.0.weight": [1.0]}), "a plain Python pickle"),
])
def test_files_that_are_not_checkpoints_say_what_they_look_like(tmp_path, kind, content, looks_like):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    msg = _refusal(path, load_model_str)
    _assert_kind(msg, "not_checkpoint")
    assert f"look like {looks_like}" in msg, msg


def test_random_bytes_are_never_taken_for_a_checkpoint(tmp_path):
    # Before issue #4 these got the "could run code" message, or an uncaught
    # IndexError / UnicodeDecodeError / KeyError from inside torch.load.
    path = tmp_path / "weights.pt"
    rng = random.Random(0)
    for size in [1, 7, 100, 4096] * 75:
        path.write_bytes(rng.randbytes(size))
        _assert_kind(_refusal(path), "not_checkpoint")


@pytest.mark.parametrize("damage", ["truncated zip", "truncated legacy", "flipped byte"])
def test_damaged_checkpoints_are_refused_as_damaged(tmp_path, damage):
    torch.manual_seed(0)
    good = tmp_path / "good.pt"
    ckpt = _train_checkpoint()
    if damage == "truncated legacy":  # torch.save's format before PyTorch 1.6: no zip, no CRCs
        torch.save(ckpt, good, _use_new_zipfile_serialization=False)
    else:
        save_atomic(ckpt, good)
    data = bytearray(good.read_bytes())
    if damage == "flipped byte":
        # One bit pattern flipped in the middle of the largest tensor (fc6's weight).
        # torch.load itself would return the wrong weight without complaint; the
        # zip's own CRC-32 of that member (zipfile, independent of our code) sees it.
        with zipfile.ZipFile(good) as z:
            member = max(z.infolist(), key=lambda i: i.file_size)
        assert "/data/" in member.filename
        data[_member_data_offset(data, member) + member.file_size // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path = tmp_path / "weights.pt"
    path.write_bytes(bytes(data))
    msg = _refusal(path, load_model_str)
    _assert_kind(msg, "damaged")
    if damage == "flipped byte":
        assert f"{member.filename} fails its CRC-32 check" in msg, msg


def test_empty_missing_and_folder_paths_each_say_so(tmp_path):
    empty = tmp_path / "weights.pt"
    empty.write_bytes(b"")
    _assert_kind(_refusal(empty), "empty")
    _assert_kind(_refusal(tmp_path / "nowhere.pt"), "missing")
    run = tmp_path / "run"
    save_atomic(_train_checkpoint(), run / "last.pt")
    msg = _refusal(run, load_model_str)
    _assert_kind(msg, "folder")
    assert "(it holds last.pt)" in msg, msg


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pt"
    torch.save({"model": _Evil(marker)}, path, _use_new_zipfile_serialization=zip_format)
    msg = _refusal(path, load_model_str)
    _assert_kind(msg, "code")
    assert "system" in msg and "only load files you trust" in msg.lower(), msg
    assert "weights_only set to False" not in msg
    assert not marker.exists()


def test_a_state_dict_holding_something_other_than_tensors_is_refused(tmp_path):
    ckpt = _train_checkpoint()
    ckpt["model"]["features.conv1.weight"] = 1.5
    save_atomic(ckpt, tmp_path / "weights.pt")
    msg = _refusal(tmp_path / "weights.pt", load_path)
    assert "FILE holds a float under 'features.conv1.weight' where a weight tensor should be" in msg, msg


def test_a_class_list_that_does_not_fit_the_model_is_refused(tmp_path):
    save_atomic(_train_checkpoint(classes=list(CIFAR10_CLASSES[:9])), tmp_path / "weights.pt")
    msg = _refusal(tmp_path / "weights.pt", load_path)
    assert "FILE names 9 classes but its model predicts 10" in msg, msg


@pytest.mark.parametrize("manifest, says", [
    ('{"file": "cifar10_alexnet.pt", "sha256": ', "cannot be read"),
    ('{"file": "cifar10_alexnet.pt"}', "is damaged (no sha256 entry)"),
    ('["cifar10_alexnet.pt"]', "is damaged (no file or sha256 entry)"),
])
def test_a_corrupt_manifest_is_refused_with_how_to_restore_it(tmp_path, monkeypatch, manifest, says):
    monkeypatch.delenv("ALEXNET_CIFAR10_WEIGHTS", raising=False)
    save_atomic(_train_checkpoint(), tmp_path / "cifar10_alexnet.pt")
    (tmp_path / "manifest.json").write_text(manifest)
    msg = _refusal(tmp_path / "manifest.json",
                   lambda m: load_cifar10(tmp_path / "cifar10_alexnet.pt", m))
    assert f"manifest FILE {says}" in msg and "restore pretrained/ from the repository" in msg, msg


def test_imagenet_download_is_loaded_weights_only(tmp_path, monkeypatch):
    """What the download command leaves in the hub cache is then read like any other file:
    a hostile mirror's pickle runs no code (the download itself: tests/test_download.py)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("load_state_dict_from_url unpickles unsafely"))
    marker = tmp_path / "pwned"
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save({"features.0.weight": _Evil(marker)}, path)  # as the mirror served it
    monkeypatch.setattr(weights, "sha256", lambda path: "7be5be79" + "0" * 56)  # passes the check
    msg = _refusal(path, lambda p: load_imagenet())
    _assert_kind(msg, "code")
    assert not marker.exists()


def test_every_downloadable_entry_names_a_download_that_exists():
    from alexnet.download import WHAT

    for w in weights.entries().values():
        if w.url:
            assert w.download_command.split()[-1] in WHAT, w.download_command


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
