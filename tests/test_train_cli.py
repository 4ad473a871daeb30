"""The training command's promises to its user: devices that are not there
and missing data fail with one clear line before anything loads; --lr can be
lowered on resume (and onecycle says why not); a diverged run never saves a
NaN model; --val-split holds out the same images every time; concurrent DDP
ranks share the decode cache safely."""

import contextlib
import hashlib
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import alexnet.train as train_module
from alexnet.checkpoint import load_checkpoint, save_atomic
from alexnet.data import CIFAR10_MEAN, CIFAR10_STD, load_image_folder
from alexnet.train import TrainConfig, main

from tests.synthetic_data import make_image_folder

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--dataset", "folder", "--widths", "8,16,16,16,16,32,32", "--init", "kaiming",
         "--threads", "1", "--batch-size", "16"]


pytestmark = pytest.mark.usefixtures("isolated_cache")  # image_folder: 64 train, 64 val images


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if training gets as far as loading data."""
    def refuse(*_):
        raise AssertionError("the data was loaded before the settings were refused")
    monkeypatch.setattr(train_module, "_data", refuse)


def _metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def _run(image_folder, out, *extra):
    main(["--data-dir", str(image_folder), "--out", str(out), *SMALL, *extra])


# (a) devices ---------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--device", "gpu"], r"--device 'gpu' is not a device name torch understands; use cpu, cuda"),
    (["--device", "cuda:x"], r"--device 'cuda:x' is not a device name.*cuda:N"),
    (["--tower-devices", "cpu"], r"--tower-devices needs two devices, one per tower"),
    (["--tower-devices", "cpu,gpu"], r"--tower-devices 'gpu' is not a device name"),
    (["--device", "meta"], r"'meta' holds shapes but no numbers"),
])
def test_bad_device_names_fail_before_data(no_data, tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "r"), *SMALL, *args])


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an MPS device")
@pytest.mark.parametrize("args, flag", [(["--device", "mps"], "--device"),
                                        (["--tower-devices", "cpu,mps"], "--tower-devices")])
def test_absent_mps_fails_before_data(no_data, tmp_path, args, flag):
    with pytest.raises(SystemExit, match=f"{flag} 'mps': torch cannot use mps devices on this machine"):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "r"), *SMALL, *args])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_absent_cuda_tower_fails_before_data(no_data, tmp_path):
    with pytest.raises(SystemExit, match="--tower-devices 'cuda:1' was asked for, but this machine "
                                         "has no CUDA GPU.*leave out --tower-devices"):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "r"), *SMALL,
              "--tower-devices", "cpu,cuda:1"])


# (b) a new --lr on resume -------------------------------------------------

def _weights(path):
    return load_checkpoint(path)["model"]


def test_resume_with_a_new_lr_trains_at_it(image_folder, tmp_path):
    _run(image_folder, tmp_path / "a", "--epochs", "1", "--schedule", "plateau", "--dropout", "0")
    first = tmp_path / "a" / "last.pt"
    before = _weights(first)
    # The same epoch 2 from the same checkpoint, at the run's lr and at a tenth of it.
    for name, lr in (("same", []), ("lower", ["--lr", "0.001"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "last.pt").write_bytes(first.read_bytes())
        main(["--resume", str(tmp_path / name / "last.pt"), "--out", str(tmp_path / name),
              "--epochs", "2", "--threads", "1", *lr])
    assert [r["lr"] for r in _metrics(tmp_path / "same")] == [0.01, 0.01]
    assert [r["lr"] for r in _metrics(tmp_path / "lower")] == [0.01, 0.001]
    # SGD's step is lr * (momentum buffer): the lower lr moves the weights about
    # ten times less over the same batches (exactly ten times on the first step).
    moved = {n: sum(float((_weights(tmp_path / n / "last.pt")[k] - before[k]).norm()) for k in before)
             for n in ("same", "lower")}
    assert 0.07 < moved["lower"] / moved["same"] < 0.13, moved
    # Recorded, so a further resume keeps the new lr instead of going back.
    assert load_checkpoint(tmp_path / "lower" / "last.pt")["train_config"]["lr"] == 0.001
    main(["--resume", str(tmp_path / "lower" / "last.pt"), "--epochs", "3", "--threads", "1"])
    assert [r["lr"] for r in _metrics(tmp_path / "lower")] == [0.01, 0.001, 0.001]


def test_onecycle_refuses_a_new_lr_or_length_on_resume(image_folder, tmp_path):
    # 8 steps: OneCycleLR needs a warm-up of at least one step (25% of them).
    _run(image_folder, tmp_path / "oc", "--epochs", "1", "--schedule", "onecycle", "--batch-size", "8")
    last = str(tmp_path / "oc" / "last.pt")
    with pytest.raises(SystemExit, match=r"--lr cannot change when resuming a --schedule onecycle "
                                         r"run: its lr curve \(peak 0.01\) was fixed"):
        main(["--resume", last, "--lr", "0.001"])
    with pytest.raises(SystemExit, match="--epochs cannot change when resuming a --schedule onecycle"):
        main(["--resume", last, "--epochs", "2"])


# (c) divergence never saves a NaN model -----------------------------------

def _assert_good_epoch_1(out):
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert [r["epoch"] for r in _metrics(out)] == [1]
    assert not (out / "snapshots" / "epoch002.pt").exists()
    from alexnet.weights import load_path

    x = torch.randn(2, 3, 32, 32)
    assert torch.isfinite(load_path(out / "last.pt").model.eval()(x)).all()


def test_nan_loss_keeps_the_last_good_checkpoint(image_folder, tmp_path):
    out = tmp_path / "r"
    _run(image_folder, out, "--epochs", "1", "--schedule", "constant")
    with pytest.raises(FloatingPointError, match=r"the loss became (nan|inf) at epoch 2, step \d+: training "
                                                 r"diverged .* Lower --lr \(it is 1e\+38\) and resume"):
        main(["--resume", str(out / "last.pt"), "--epochs", "2", "--lr", "1e38", "--threads", "1"])
    _assert_good_epoch_1(out)
    # The advice works: the same resume at a sane lr trains epoch 2.
    main(["--resume", str(out / "last.pt"), "--epochs", "2", "--lr", "0.001", "--threads", "1"])
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_nan_weights_after_the_last_step_are_not_saved(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "r"
    _run(image_folder, out, "--epochs", "1", "--schedule", "constant", "--limit", "16")  # 1 step an epoch
    real_step = torch.optim.SGD.step

    def step_to_nan(self, *args, **kwargs):  # an update that breaks one weight, as overflow would
        result = real_step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0].view(-1)[0] = float("nan")
        return result

    monkeypatch.setattr(torch.optim.SGD, "step", step_to_nan)
    # Epoch 2's only loss is computed before the step, so only the weights can tell.
    with pytest.raises(FloatingPointError, match=r"the weights became inf or nan at epoch 2: training "
                                                 r"diverged and nothing from this epoch was saved"):
        main(["--resume", str(out / "last.pt"), "--epochs", "2", "--threads", "1"])
    _assert_good_epoch_1(out)


# (d) --val-split -----------------------------------------------------------

def _png_bytes(folder: Path) -> dict[bytes, int]:
    """Every image under folder/<class>/, decoded by PIL alone: bytes -> label."""
    classes = sorted(p.name for p in folder.iterdir())
    return {np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1).tobytes(): c
            for c, name in enumerate(classes) for p in sorted((folder / name).glob("*.png"))}


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    m, s = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return ((x * s + m) * 255).round().to(torch.uint8)


def test_val_split_holds_out_the_same_images(image_folder, tmp_path, monkeypatch):
    seen = []
    real = train_module._data

    def spy(cfg, rank, world):
        batches, val, classes = real(cfg, rank, world)
        seen.append((batches.data, val()))
        return batches, val, classes

    monkeypatch.setattr(train_module, "_data", spy)
    out = tmp_path / "r"
    _run(image_folder, out, "--epochs", "1", "--val-split", "12")
    main(["--resume", str(out / "last.pt"), "--epochs", "2", "--threads", "1"])
    assert len(seen) == 2
    reference = _png_bytes(image_folder / "train")
    assert len(reference) == 64  # every synthetic image is distinct (noise)
    for train_set, val_batches in seen:
        val_x = torch.cat([_unnormalise(x) for x, _ in val_batches])
        val_y = torch.cat([y for _, y in val_batches])
        held = [v.numpy().tobytes() for v in val_x]
        kept = [v.numpy().tobytes() for v in train_set.images]
        assert len(held) == 12 and len(kept) == 52
        assert not set(held) & set(kept)  # never trained on
        assert set(held) | set(kept) == set(reference)  # all from train/, none from val/
        assert [reference[h] for h in held] == val_y.tolist()
        assert [reference[k] for k in kept] == train_set.labels.tolist()
    (a_train, a_val), (b_train, b_val) = seen
    assert torch.equal(a_train.images, b_train.images)  # the same split after the resume
    assert len(a_val) == len(b_val) == 1  # 12 held-out images, one validation batch
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a_val, b_val))
    # Every DDP rank holds out the same images (it shards only the rest).
    cfg = TrainConfig(**load_checkpoint(out / "last.pt")["train_config"])
    r1_batches, r1_val, _ = real(cfg, 1, 2)
    assert torch.equal(r1_batches.data.images, a_train.images)
    assert len(r1_val()) == len(a_val) and all(torch.equal(x, y) for (x, _), (y, _) in zip(r1_val(), a_val))


def test_val_split_needs_no_val_folder(tmp_path):
    only_train = make_image_folder(tmp_path / "d", per_class=4, splits=("train",))
    with pytest.raises(FileNotFoundError, match="no val/ or test/ folder.*--val-split N"):
        _run(only_train, tmp_path / "r", "--epochs", "1")
    _run(only_train, tmp_path / "r", "--epochs", "1", "--val-split", "4")
    assert load_checkpoint(tmp_path / "r" / "last.pt")["train_config"]["val_split"] == 4


@pytest.mark.parametrize("args, message", [
    (["--val-split", "64"], "--val-split 64 would hold out all 64 training images"),
    (["--val-split", "-1"], "--val-split must be 0"),
    (["--val-split", "5", "--dataset", "imagenet-folder", "--variant", "imagenet"],
     "--dataset imagenet-folder validates on its val/ folder"),
])
def test_bad_val_split_fails_clearly(image_folder, tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        _run(image_folder, tmp_path / "r", "--epochs", "1", *args)


def test_checkpoint_without_val_split_still_resumes(image_folder, tmp_path):
    out = tmp_path / "r"
    _run(image_folder, out, "--epochs", "1", "--schedule", "constant")
    old = load_checkpoint(out / "last.pt")
    del old["train_config"]["val_split"]  # as written before the field existed
    save_atomic(old, out / "last.pt")
    main(["--resume", str(out / "last.pt"), "--epochs", "2", "--threads", "1"])
    new = load_checkpoint(out / "last.pt")
    assert new["epoch"] == 2 and new["train_config"]["val_split"] == 0


# (e, f) missing data: one line naming --data-dir -----------------------------

@pytest.mark.parametrize("args", [
    ["--dataset", "folder"],
    ["--dataset", "imagenet-folder", "--variant", "imagenet"],
    ["--dataset", "cifar10"],
])
def test_missing_data_folder_names_the_flag(tmp_path, args):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *args])


def test_folder_without_data_dir_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="--dataset folder needs --data-dir"):
        main(["--dataset", "folder", "--out", str(tmp_path / "r")])


@pytest.mark.parametrize("args, says", [
    (["--data-dir", "/nonexistent"], "--data-dir"),
    (["--data-dir", "/nonexistent/alexnet-data", "--dataset", "folder"],
     "--data-dir /nonexistent/alexnet-data does not exist"),
    (["--device", "gpu"], "--device 'gpu' is not a device name"),
])
def test_command_line_errors_are_one_line(tmp_path, args, says):
    run = subprocess.run([sys.executable, "-m", "alexnet.train", "--out", str(tmp_path / "r"), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
                              "ALEXNET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"})
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], run.stderr


# (g) concurrent decode-cache writers ----------------------------------------

def _decode_in_step(barrier, data_dir, caches, hold_in_save, results):
    """One 'DDP rank': for each cold cache, start together with the other rank and
    decode. With hold_in_save, both ranks finish writing before either renames,
    the moment at which a shared temporary name used to collide."""
    import os

    import torch

    from alexnet.data import load_image_folder

    real_save = torch.save

    def save_then_wait(*args, **kwargs):
        real_save(*args, **kwargs)
        barrier.wait(timeout=120)

    for cache, hold in zip(caches, hold_in_save):
        os.environ["ALEXNET_CACHE"] = cache
        torch.save = save_then_wait if hold else real_save
        barrier.wait(timeout=120)
        try:
            ds = load_image_folder(data_dir)
            results.put((cache, hashlib.sha256(ds.images.numpy().tobytes()
                                               + ds.labels.numpy().tobytes()).hexdigest()))
        except Exception as e:  # reported to the test, which fails on it; go on in step
            results.put((cache, f"{type(e).__name__}: {e}"))


def test_concurrent_cache_writers_never_collide(image_folder, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    caches = [str(tmp_path / f"cache{i}") for i in range(3)]
    hold = [True, False, False]  # one forced overlap, then two free races
    procs = [ctx.Process(target=_decode_in_step,
                         args=(barrier, str(image_folder / "train"), caches, hold, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in range(2 * len(caches))]
    for p in procs:
        p.join(timeout=60)
    # The reference: this process decodes the folder itself, into its own cold cache.
    ds = load_image_folder(image_folder / "train")
    ref = hashlib.sha256(ds.images.numpy().tobytes() + ds.labels.numpy().tobytes()).hexdigest()
    for cache in caches:
        assert [h for c, h in got if c == cache] == [ref, ref], got
        files = sorted(p.name for p in Path(cache).iterdir())
        assert len(files) == 1 and files[0].startswith("folder-") and files[0].endswith(".pt"), files
    assert all(p.exitcode == 0 for p in procs)


@pytest.mark.parametrize("epochs", [1, 2])  # 4 and 8 steps of 16 images (64 in the folder)
def test_onecycle_too_short_says_so(image_folder, tmp_path, epochs):
    """torch's OneCycleLR divides by zero at 4 steps; the command says what to do instead."""
    with pytest.raises(SystemExit, match="--schedule onecycle needs at least 8 steps") if epochs == 1 \
            else contextlib.nullcontext():
        _run(image_folder, tmp_path / "r", "--epochs", str(epochs), "--schedule", "onecycle")
