"""The embedded CIFAR-10 sample (alexnet/sample.py): what ships, and how it is made."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet.data import CIFAR10_CLASSES, load_cifar10
from alexnet.sample import PER_CLASS, SAMPLE_FILE, build, is_sample, load_sample

from tests.app_fixtures import tiny_cifar

FULL = Path.home() / ".cache" / "alexnet-data" / "cifar10"


def test_the_shipped_sample_is_small_balanced_and_cifar10():
    assert SAMPLE_FILE.stat().st_size < 10e6
    assert (SAMPLE_FILE.parent / "README.md").is_file()
    for train, n in ((True, PER_CLASS["train"]), (False, PER_CLASS["test"])):
        d = load_sample(train=train)
        assert d.classes == CIFAR10_CLASSES
        assert d.images.shape == (10 * n, 3, 32, 32) and str(d.images.dtype) == "torch.uint8"
        assert np.bincount(d.labels.numpy()).tolist() == [n] * 10
        assert d.labels.tolist() == sorted(d.labels.tolist())  # class order, as the folders
        assert float(d.images.float().std()) > 30  # pictures, not blanks


def test_load_cifar10_reads_the_sample_by_path():
    assert is_sample(SAMPLE_FILE) and is_sample(SAMPLE_FILE.parent)
    d = load_cifar10(SAMPLE_FILE, train=False)
    assert len(d) == 10 * PER_CLASS["test"] and d.classes == CIFAR10_CLASSES


def test_build_keeps_the_source_pixels(tmp_path):
    """A sample of a small tree holds exactly the files' pixels, read independently with PIL."""
    src = tmp_path / "tree"
    for split in ("train", "test"):  # JPEGs, as the full set
        for c in CIFAR10_CLASSES:
            (src / split / c).mkdir(parents=True)
    tiny_cifar(tmp_path / "png", per_class=4)
    for p in (tmp_path / "png").rglob("*.png"):
        Image.open(p).save(src / p.relative_to(tmp_path / "png").with_suffix(".jpg"), quality=90)
    out = build(src, tmp_path / "s.npz", per_class={"train": 3, "test": 2}, seed=1)
    d = load_sample(out, train=True)
    assert len(d) == 30 and d.labels.tolist() == [c for c in range(10) for _ in range(3)]
    files = {tuple(np.asarray(Image.open(p).convert("RGB")).ravel()[:64]): p
             for p in (src / "train").rglob("*.jpg")}
    for img, label in zip(d.images, d.labels):
        hwc = img.permute(1, 2, 0).numpy()
        p = files[tuple(hwc.ravel()[:64])]
        assert p.parent.name == CIFAR10_CLASSES[int(label)]
        assert (np.asarray(Image.open(p).convert("RGB")) == hwc).all()
    assert build(src, tmp_path / "t.npz", per_class={"train": 3, "test": 2}, seed=1).read_bytes() == \
        out.read_bytes()  # deterministic


@pytest.mark.skipif(not (FULL / "test").is_dir(), reason=f"the full CIFAR-10 JPEG tree is not at {FULL}")
def test_the_sample_is_pixel_for_pixel_the_full_set():
    d = load_sample(train=False)
    full = {}
    for c in CIFAR10_CLASSES[:2]:
        for p in sorted((FULL / "test" / c).glob("*.jpg")):
            full[np.asarray(Image.open(p).convert("RGB")).tobytes()] = c
    for img, label in zip(d.images[:200], d.labels[:200]):  # the first two classes
        assert full[img.permute(1, 2, 0).numpy().tobytes()] == CIFAR10_CLASSES[int(label)]
