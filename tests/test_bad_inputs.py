"""Damaged data and damaged weights, as a user meets them: through the command
lines (``python -m alexnet.train`` / ``alexnet.evaluate`` in a subprocess) and
the app's loading path. Every case ends in one line that names the file or
folder and what to do, never a traceback and never a silent wrong answer."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.checkpoint import CheckpointError, save_atomic
from alexnet.data import CIFAR10_CLASSES, load_image_folder
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.unreadable import UnreadableImages
from alexnet.weights import CIFAR10_OVERRIDE_ENV, load_model

from tests.app_fixtures import png_bytes, tiny_cifar, top5
from tests.synthetic_data import make_image_folder
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
TINY = (8, 16, 16, 16, 16, 32, 32)  # conv1..conv5, fc6, fc7: a net that runs in milliseconds
SMALL = ["--dataset", "folder", "--widths", ",".join(map(str, TINY)), "--init", "kaiming",
         "--threads", "1", "--batch-size", "8", "--epochs", "1"]


def _jpeg(seed=0, side=48) -> bytes:
    buf = io.BytesIO()
    a = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(a).save(buf, "JPEG")
    return buf.getvalue()


def damage(folder: Path) -> dict[str, str]:
    """Four kinds of unreadable file in ``folder``'s class folders: {relative path: why}."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    bad = {f"{classes[0].name}/zero.jpg": ("empty file", b""),
           f"{classes[1 % len(classes)].name}/notes.jpg": ("not an image", b"these are not pixels\n" * 5),
           f"{classes[2 % len(classes)].name}/cut.jpg": ("truncated", _jpeg()[:700]),
           f"{classes[3 % len(classes)].name}/noise.png": ("not an image", np.random.default_rng(1).bytes(400))}
    for rel, (_, content) in bad.items():
        (folder / rel).write_bytes(content)
    return {rel: reason for rel, (reason, _) in bad.items()}


def run(module, *args, env=None, tmp):
    """``python -m module args`` as a user runs it: (return code, stdout, stderr)."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp),
            "ALEXNET_CACHE": str(tmp / "cache"), "TORCH_HOME": str(tmp / "torch"),
            "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**base, **(env or {})})
    return r.returncode, r.stdout, r.stderr


def error_line(stderr: str) -> str:
    """The one line a refusal prints (progress bars aside), after checking there is one."""
    assert "Traceback" not in stderr, stderr
    lines = [s for s in stderr.replace("\r", "\n").splitlines() if s.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def checkpoint(path, variant="cifar", classes=CIFAR10_CLASSES, poison=None) -> Path:
    """A tiny net in alexnet.train's format; ``poison=(name, value)`` sets one weight."""
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant=variant, num_classes=len(classes), widths=TINY, init="kaiming"))
    state = model.state_dict()
    if poison:
        state[poison[0]].view(-1)[3] = poison[1]
    save_atomic({"model": state, "model_config": model.config.to_dict(), "classes": list(classes),
                 "epoch": 1}, path)
    return Path(path)


@pytest.fixture(autouse=True)
def cache(isolated_cache, monkeypatch):
    monkeypatch.delenv(CIFAR10_OVERRIDE_ENV, raising=False)  # set only where a test sets it


# 1. Unreadable images ------------------------------------------------------

def test_train_names_every_unreadable_image_and_stops(tmp_path):
    data = make_image_folder(tmp_path / "d", per_class=4)  # 16 train images
    bad = damage(data / "train")
    rc, _, err = run("alexnet.train", "--data-dir", data, "--out", tmp_path / "r", *SMALL, tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"4 of 20 images in {data / 'train'} cannot be read: " in line
    for rel, reason in bad.items():
        assert f"{rel} ({reason})" in line
    assert line.endswith("remove them or pass --skip-bad-images")
    assert not (tmp_path / "r" / "last.pt").exists()


@pytest.mark.slow  # trains an epoch in a subprocess
def test_skipping_is_counted_and_never_carried_over_by_the_cache(tmp_path):
    data = make_image_folder(tmp_path / "d", per_class=4)
    damage(data / "train")
    rc, out, err = run("alexnet.train", "--data-dir", data, "--out", tmp_path / "r", *SMALL,
                       "--skip-bad-images", tmp=tmp_path)
    assert rc == 0 and "Traceback" not in err, err
    assert f"skipping 4 of 20 images in {data / 'train'} that cannot be read (--skip-bad-images)" in err
    assert '"epoch": 1' in out and (tmp_path / "r" / "last.pt").is_file()
    assert list((tmp_path / "cache").glob("folder-*.pt"))  # the decoded folder was cached
    # Without the flag, the cached decode must not let the damaged files pass.
    rc, _, err = run("alexnet.train", "--data-dir", data, "--out", tmp_path / "r2", *SMALL, tmp=tmp_path)
    assert rc != 0 and "decoding train" not in err  # read from the cache, not decoded again
    assert "4 of 20 images" in error_line(err)


def test_a_replaced_file_is_decoded_again(tmp_path):
    data = make_image_folder(tmp_path / "d", per_class=4, splits=("train",))
    damage(data / "train")
    with pytest.raises(UnreadableImages, match="4 of 20 images"):
        load_image_folder(data / "train")
    (data / "train" / "class2" / "cut.jpg").write_bytes(_jpeg(seed=1))  # a good copy, same name
    ds = load_image_folder(data / "train", skip_bad=True)
    assert len(ds) == 17
    with pytest.raises(UnreadableImages, match="3 of 20 images") as e:
        load_image_folder(data / "train")
    assert "cut.jpg" not in str(e.value)


def test_many_unreadable_images_list_five_and_write_all_to_a_file(tmp_path):
    data = make_image_folder(tmp_path / "d", classes=2, per_class=4, splits=("train",))
    for i in range(7):
        (data / "train" / "class1" / f"bad{i}.jpg").write_bytes(b"")
    with pytest.raises(UnreadableImages) as e:
        load_image_folder(data / "train")
    msg = str(e.value)
    assert msg.startswith(f"7 of 15 images in {data / 'train'} cannot be read: class1/bad0.jpg (empty file)")
    assert "bad4.jpg" in msg and "bad5.jpg" not in msg and "(first 5 listed; all 7 in " in msg
    listing = Path(msg.split("(first 5 listed; all 7 in ")[1].split(")")[0])
    assert listing.read_text().splitlines() == [
        f"{data / 'train' / 'class1' / f'bad{i}.jpg'}\tempty file" for i in range(7)]


def test_a_folder_of_nothing_but_unreadable_files_is_refused_even_when_skipping(tmp_path):
    for i in range(3):
        (tmp_path / "train" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "train" / "a" / f"{i}.jpg").write_text("<html>sign in</html>")
    with pytest.raises(UnreadableImages,
                       match=r"none of the 3 images in .* can be read: a/0.jpg \(not an image\)"):
        load_image_folder(tmp_path / "train", skip_bad=True)


@pytest.fixture(scope="module")
def cifar_model(tmp_path_factory):
    return checkpoint(tmp_path_factory.mktemp("w") / "tiny.pt")


def test_evaluate_refuses_or_skips_unreadable_cifar_images(tmp_path, cifar_model):
    data = tiny_cifar(tmp_path / "c", per_class=2)  # 20 test images
    bad = damage(data / "test")
    rc, _, err = run("alexnet.evaluate", "--weights", cifar_model, "--data-dir", data, tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"4 of 24 images in {data / 'test'} cannot be read" in line
    assert all(rel in line for rel in bad) and "--skip-bad-images" in line
    rc, out, err = run("alexnet.evaluate", "--weights", cifar_model, "--data-dir", data,
                       "--skip-bad-images", tmp=tmp_path)
    assert rc == 0 and "Traceback" not in err, err
    assert "skipping 4 of 24 images" in err and "on 20 images" in out


def test_evaluate_streamed_folder_refuses_or_skips_unreadable_images(tmp_path):
    workers = 1  # decoded in a DataLoader worker process, whose errors used to end in its traceback
    data = make_image_folder(tmp_path / "d", classes=4, per_class=2, splits=("val",))
    bad = damage(data / "val")
    weights = checkpoint(tmp_path / "net.pt", variant="imagenet", classes=("a", "b", "c", "d"))
    args = ["--weights", weights, "--dataset", "imagenet-folder", "--data-dir", data,
            "--workers", workers, "--batch-size", 4]
    rc, _, err = run("alexnet.evaluate", *args, tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"4 of 12 images in {data / 'val'} cannot be read" in line
    assert all(f"{rel} ({reason})" in line for rel, reason in bad.items())
    rc, out, err = run("alexnet.evaluate", *args, "--skip-bad-images", tmp=tmp_path)
    assert rc == 0 and "Traceback" not in err, err
    assert "skipping 4 of 12 images" in err and "on 8 images" in out


@pytest.mark.slow  # trains an epoch in a subprocess
def test_train_on_a_streamed_folder_refuses_or_skips_unreadable_images(tmp_path):
    data = make_image_folder(tmp_path / "d", classes=2, per_class=3, splits=("train", "val"))
    (data / "train" / "class1" / "cut.jpg").write_bytes(_jpeg()[:700])
    args = ["--dataset", "imagenet-folder", "--variant", "imagenet", "--data-dir", data, "--out",
            tmp_path / "r", "--widths", ",".join(map(str, TINY)), "--epochs", "1", "--batch-size", 4,
            "--workers", 0, "--threads", 1]
    rc, _, err = run("alexnet.train", *args, tmp=tmp_path)  # the colour PCA's sample meets it first
    assert rc != 0 and (f"1 of 7 images sampled for the colour PCA in {data / 'train'} cannot be "
                        "read: class1/cut.jpg (truncated)") in error_line(err)
    rc, out, err = run("alexnet.train", *args, "--skip-bad-images", tmp=tmp_path)
    assert rc == 0 and "Traceback" not in err, err
    assert "skipping 1 of 7 images in" in err and '"epoch": 1' in out


def test_experiments_refuse_or_skip_unreadable_images(tmp_path, capsys):
    from analysis.experiments.__main__ import _load, main as experiments

    data = tiny_cifar(tmp_path / "c", per_class=1)
    damage(data / "train")
    with pytest.raises(SystemExit, match=r"^error: 4 of 14 images in .* cannot be read: .*"
                                         r"remove them or pass --skip-bad-images$"):
        experiments(["relu-tanh", "--data-dir", str(data), "--seeds", "0"])
    train, _ = _load(str(data), "relu-tanh", skip_bad=True)
    assert len(train) == 10 and "skipping 4 of 14 images" in capsys.readouterr().err


def test_an_experiment_job_says_which_images_to_remove(tmp_path, monkeypatch):
    from analysis.experiments import ExperimentConfig, ExperimentJob

    data = tiny_cifar(tmp_path / "c", per_class=1)
    damage(data / "train")
    job = ExperimentJob.start(tmp_path / "j", "relu-tanh", ExperimentConfig(), data, threads=1)
    wait_until(lambda: not job.running(), what="the job's end")
    error = job.progress()["error"]
    assert error.startswith("4 of 14 images in ") and "airplane/zero.jpg (empty file)" in error
    assert error.endswith("then start again") and "--skip-bad-images" not in error


# 2. Missing splits and empty folders ----------------------------------------

def test_a_missing_test_split_is_named_not_sent_to_the_network(tmp_path, cifar_model):
    data = tiny_cifar(tmp_path / "c", per_class=1)
    for p in sorted((data / "test").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    (data / "test").rmdir()
    for module, args in (("alexnet.evaluate", ["--weights", cifar_model]),
                         ("alexnet.train", ["--out", tmp_path / "r", "--epochs", "1"])):
        rc, _, err = run(module, *args, "--data-dir", data, tmp=tmp_path)
        line = error_line(err)
        assert rc != 0 and f"{data} has train/ but no test/ folder" in line, line
        assert "download" not in line and "fetch" not in line


def test_an_empty_data_folder_says_so_and_what_it_should_hold(tmp_path, cifar_model):
    (tmp_path / "empty").mkdir()
    rc, _, err = run("alexnet.evaluate", "--weights", cifar_model, "--data-dir", tmp_path / "empty",
                     tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"CIFAR-10 folder {tmp_path / 'empty'} is empty" in line
    assert "train/<class>/ and test/<class>/" in line and "download=True" not in line


def test_an_empty_split_folder_says_so(tmp_path, cifar_model):
    (tmp_path / "c" / "test").mkdir(parents=True)
    rc, _, err = run("alexnet.evaluate", "--weights", cifar_model, "--data-dir", tmp_path / "c",
                     tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"{tmp_path / 'c' / 'test'}: it is empty; expected one sub-folder per class" in line


def test_an_empty_class_folder_is_named(tmp_path):
    data = make_image_folder(tmp_path / "d", classes=3, per_class=2, splits=("train",))
    for p in (data / "train" / "class1").iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match=f"{data / 'train'}: the class folder class1 holds no images"):
        load_image_folder(data / "train")


def test_hidden_junk_copied_along_with_a_folder_is_not_data(tmp_path):
    """Jupyter's checkpoint folder and macOS's ``._`` twins and .DS_Store (not pictures, though
    named like them) are left out by every folder reader: dataset, picture folder, transfer."""
    from alexnet.collection import scan_folder
    from analysis.transfer import list_folder

    data = make_image_folder(tmp_path / "d", classes=3, per_class=2, splits=("train",)) / "train"
    clean = load_image_folder(data)
    (data / ".ipynb_checkpoints").mkdir()  # would be an empty fourth class
    (data / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    for c in ("class0", "class1"):
        (data / c / "._0.png").write_bytes(b"\0\5\26\7 AppleDouble")  # unreadable if listed
    got = load_image_folder(data)
    assert got.classes == clean.classes == ("class0", "class1", "class2")
    assert torch.equal(got.images, clean.images) and torch.equal(got.labels, clean.labels)
    found = scan_folder(data)
    assert found.classes == clean.classes and len(found.files) == 6
    assert not any("/." in f or f.startswith(".") for f in found.files)
    classes, files = list_folder(data)
    assert classes == clean.classes and len(files) == 6 and not any(p.name.startswith(".") for p, _ in files)


def test_a_streamed_folder_without_class_folders_says_so(tmp_path):
    (tmp_path / "d" / "val").mkdir(parents=True)
    weights = checkpoint(tmp_path / "net.pt", variant="imagenet", classes=("a", "b"))
    rc, _, err = run("alexnet.evaluate", "--weights", weights, "--dataset", "imagenet-folder",
                     "--data-dir", tmp_path / "d", tmp=tmp_path)
    assert rc != 0 and f"{tmp_path / 'd' / 'val'} has no class sub-folders" in error_line(err)


# 3. Weights that are not numbers --------------------------------------------

def test_evaluate_refuses_non_finite_weights_naming_the_tensor(tmp_path):
    bad = checkpoint(tmp_path / "nan.pt", poison=("classifier.fc6.weight", float("nan")))
    data = tiny_cifar(tmp_path / "c", per_class=1)
    rc, _, err = run("alexnet.evaluate", "--weights", bad, "--data-dir", data, tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"{bad} holds non-finite weights: classifier.fc6.weight has 1 nan of" in line


def test_inf_weights_are_refused_too(tmp_path):
    bad = checkpoint(tmp_path / "inf.pt", poison=("features.conv3.weight", float("inf")))
    with pytest.raises(CheckpointError, match=r"features\.conv3\.weight has 1 inf of its 2,304 values"):
        load_model(str(bad))


def test_override_is_checked_like_any_checkpoint(tmp_path):
    bad = checkpoint(tmp_path / "nan.pt", poison=("features.conv1.weight", float("nan")))
    data = tiny_cifar(tmp_path / "c", per_class=1)
    rc, _, err = run("alexnet.evaluate", "--weights", "cifar10", "--data-dir", data,
                     env={CIFAR10_OVERRIDE_ENV: str(bad)}, tmp=tmp_path)
    line = error_line(err)
    assert rc != 0 and f"{CIFAR10_OVERRIDE_ENV}={bad} cannot be used" in line
    assert "features.conv1.weight has 1 nan" in line


@pytest.mark.parametrize("kind, says", [
    ("four classes", "predicts 4 classes (a, b, c, d)"),
    ("reordered", "predicts 10 classes (automobile, airplane, bird, cat, ...)"),
    ("224x224", "its net takes 224x224 images"),
    ("missing", "does not exist"),
    ("flipped byte", "is damaged or truncated"),
])
def test_override_must_stand_in_for_the_cifar10_net(tmp_path, monkeypatch, kind, says):
    path = tmp_path / "w.pt"
    if kind == "four classes":
        checkpoint(path, classes=("a", "b", "c", "d"))
    elif kind == "reordered":
        checkpoint(path, classes=("automobile", "airplane", *CIFAR10_CLASSES[2:]))
    elif kind == "224x224":
        checkpoint(path, variant="imagenet")
    elif kind == "flipped byte":
        raw = bytearray(checkpoint(path).read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    monkeypatch.setenv(CIFAR10_OVERRIDE_ENV, str(path))
    with pytest.raises(CheckpointError, match=f"^{CIFAR10_OVERRIDE_ENV}={path} cannot") as e:
        load_model("cifar10")
    assert says in str(e.value)


def test_a_torchvision_state_dict_with_inf_names_its_own_key(tmp_path):
    from torchvision.models import alexnet

    with torch.device("meta"):  # shapes only: initialising 61M weights takes seconds
        shapes = {k: v.shape for k, v in alexnet().state_dict().items()}
    state = {k: torch.full(s, 0.01) for k, s in shapes.items()}
    state["features.3.bias"][0] = float("-inf")
    torch.save(state, tmp_path / "tv.pth")
    with pytest.raises(CheckpointError, match=r"features\.3\.bias has 1 inf of its 192 values"):
        load_model(str(tmp_path / "tv.pth"))


def test_resuming_from_non_finite_weights_is_refused(tmp_path):
    from alexnet.train import main

    save_atomic({"model": {"features.conv1.weight": torch.tensor([1.0, float("nan")])}},
                tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match=r"features\.conv1\.weight has 1 nan of its 2 values"):
        main(["--resume", str(tmp_path / "last.pt")])


def test_a_snapshot_with_nan_is_refused_by_the_evolution_analysis(tmp_path):
    from analysis.evolution import load_snapshots

    net = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, widths=TINY))
    feats = {k: v.half() for k, v in net.state_dict().items() if k.startswith("features.")}
    feats["features.conv2.bias"][5] = float("nan")
    save_atomic({"epoch": 2, "model_config": net.config.to_dict(), "features": feats},
                tmp_path / "epoch002.pt")
    with pytest.raises(CheckpointError, match=r"epoch002\.pt holds non-finite weights: "
                                              r"features\.conv2\.bias has 1 nan of its 16 values"):
        load_snapshots(tmp_path, net)


# 4. The app's loading path ---------------------------------------------------

@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """The app over a tiny CIFAR-10 folder, with fresh Streamlit caches."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    monkeypatch.setenv("ALEXNET_DATA_DIR", str(tiny_cifar(tmp_path / "c", per_class=1)))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    yield tmp_path
    st.cache_resource.clear()
    st.cache_data.clear()


def _app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    return at


def test_app_refuses_non_finite_override_weights_with_a_note(app_env, monkeypatch):
    bad = checkpoint(app_env / "nan.pt", poison=("classifier.fc8.bias", float("nan")))
    monkeypatch.setenv(CIFAR10_OVERRIDE_ENV, str(bad))
    at = _app()
    at.file_uploader[0].set_value(("photo.png", png_bytes(), "image/png")).run()
    assert not at.exception
    assert any(f"{CIFAR10_OVERRIDE_ENV}={bad} cannot be used" in w.value and
               "classifier.fc8.bias has 1 nan" in w.value for w in at.warning), [w.value for w in at.warning]
    assert top5(at) is None


def test_app_names_a_missing_override_file(app_env, monkeypatch):
    monkeypatch.setenv(CIFAR10_OVERRIDE_ENV, str(app_env / "nowhere.pt"))
    at = _app()
    at.file_uploader[0].set_value(("photo.png", png_bytes(), "image/png")).run()
    assert not at.exception
    assert any(f"checkpoint {app_env / 'nowhere.pt'} does not exist" in w.value for w in at.warning)


@pytest.mark.parametrize("spoil, says", [
    (lambda train: damage(train), "4 of 14 images in {train} cannot be read: airplane/zero.jpg (empty file)"),
    (lambda train: [p.unlink() for p in train.rglob("*.png")], "{train}: no images found there"),
])
def test_app_data_problems_are_notes_naming_the_folder(app_env, monkeypatch, spoil, says):
    weights = checkpoint(app_env / "ok.pt")
    monkeypatch.setenv(CIFAR10_OVERRIDE_ENV, str(weights))
    train = app_env / "c" / "train"
    spoil(train)
    at = _app()
    at.switch_page("app/pages/neighbours.py").run()
    assert not at.exception
    notes = [i.value for i in at.info]
    assert any(says.format(train=train) in n for n in notes), notes
