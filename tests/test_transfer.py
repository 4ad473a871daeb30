"""Transfer (ZF 5.1) on a small generated folder: the CLI, the function and its errors."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet.weights import load_model
from analysis.transfer import list_folder, transfer

from tests.synthetic_data import make_image_folder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """4 classes x 12 images, each class its own colour and stripes, as JPEG-free PNGs."""
    root = make_image_folder(tmp_path_factory.mktemp("transfer"), per_class=12, splits=("all",))
    (root / "all" / "class0" / "notes.png").write_bytes(b"not an image")  # skipped, not fatal
    return root / "all"


def test_transfer_separates_the_generated_classes(folder):
    m = load_model("cifar10")
    r = transfer(m, folder, "act7", per_class=4, splits=2)
    assert r.classes == ("class0", "class1", "class2", "class3") and r.images == 48
    assert r.skipped and r.skipped[0].endswith("notes.png")
    assert r.accuracy.shape == (2,) and r.mean > 0.9  # colour and stripes: easy for the shipped net
    early = transfer(m, folder, "act1", per_class=4, splits=2)
    assert early.layer == "act1" and early.accuracy.shape == (2,)


def test_listing_limits_and_errors(folder, tmp_path):
    classes, files = list_folder(folder, max_per_class=5)
    assert len(classes) == 4 and torch.bincount(torch.tensor([y for _, y in files])).tolist() == [5] * 4
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="1 class folder"):
        list_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        list_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="more than --per-class 12"):
        transfer(load_model("cifar10"), folder, per_class=12)


def test_cli(folder, tmp_path):
    run = lambda *args: subprocess.run([sys.executable, "-m", "analysis.transfer", "--folder", *args],  # noqa: E731
                                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    ok = run(str(folder), "--model", "cifar10", "--layer", "act6", "--per-class", "4", "--splits", "2")
    assert ok.returncode == 0, ok.stderr
    assert "layer act6: 4 classes, 4 labelled images a class, 48 images in all" in ok.stdout
    assert "chance 25.0%" in ok.stdout and "skipped 1 unreadable" in ok.stdout
    bad = run(str(folder), "--layer", "conv9")
    assert bad.returncode != 0 and "--layer: no layer named 'conv9'" in bad.stderr and "Traceback" not in bad.stderr
    gone = run(str(tmp_path / "nowhere"))
    assert gone.returncode != 0 and "is not a folder" in gone.stderr and "Traceback" not in gone.stderr
