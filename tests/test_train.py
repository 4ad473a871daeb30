"""Training end to end on a tiny generated dataset: it learns, it resumes
exactly after SIGKILL, DDP keeps replicas equal, checkpoints are atomic, and
bad settings fail with messages."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alexnet.checkpoint import load_checkpoint, remove_stale_temps, save_atomic
from alexnet.train import TrainConfig, main, train
from tests.waiting import PROCESS_BOUND, wait_for_exit, wait_for_line

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--dataset", "folder", "--widths", "8,16,16,16,16,32,32", "--init", "kaiming",
         "--threads", "1", "--batch-size", "16", "--lr", "0.01"]


pytestmark = pytest.mark.usefixtures("isolated_cache")


def _env(tmp_path):
    return {**os.environ, "ALEXNET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT)}


def _metrics(out):
    rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_drives_the_loss_down(image_folder, tmp_path, precision):
    cfg = TrainConfig(dataset="folder", data_dir=str(image_folder), out=str(tmp_path / "run"), epochs=4,
                      batch_size=8, lr=0.01, init="kaiming", widths="8,16,16,16,16,32,32",
                      threads=1, schedule="constant", dropout=0.0, precision=precision)
    net = train(cfg)
    rows = _metrics(tmp_path / "run")
    assert len(rows) == 4
    assert rows[0]["train_loss"] > 0.8  # ln 4 = 1.39 at the start
    assert rows[-1]["train_loss"] < 0.3 * rows[0]["train_loss"]
    assert rows[-1]["val_top1_error"] < 0.25  # 4 colours: chance is 0.75
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "epoch", "history", "train_config",
                         "model_config", "classes"}
    assert ckpt["classes"] == ["class0", "class1", "class2", "class3"] and ckpt["epoch"] == 4
    assert ckpt["train_config"]["precision"] == precision  # a resumed run keeps it
    # The checkpoint holds the trained weights, loadable through the registry.
    from alexnet.weights import load_path

    loaded = load_path(tmp_path / "run" / "last.pt")
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v)


def test_channels_last_trains_the_same_net(image_folder, tmp_path):
    """--channels-last changes where activations sit in memory, not the arithmetic: the
    same run lands on the same weights to float32 rounding, and its files are NCHW."""
    ends = {}
    for flag in ("--no-channels-last", "--channels-last"):
        main(["--data-dir", str(image_folder), *SMALL, "--epochs", "2", "--snapshot-epochs", "1",
              "--out", str(tmp_path / flag), flag])
        ends[flag] = load_checkpoint(tmp_path / flag / "last.pt")
    cl = ends["--channels-last"]
    assert cl["train_config"]["channels_last"] is True
    for k, v in ends["--no-channels-last"]["model"].items():
        assert cl["model"][k].is_contiguous()  # the file does not depend on the layout
        torch.testing.assert_close(cl["model"][k], v, rtol=0, atol=1e-5)
    snap = load_checkpoint(tmp_path / "--channels-last" / "snapshots" / "epoch001.pt")
    assert all(v.is_contiguous() for v in snap["features"].values())


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted_run(image_folder, tmp_path):
    args = [sys.executable, "-m", "alexnet.train", "--data-dir", str(image_folder), *SMALL, "--epochs", "3"]
    main([*args[3:], "--out", str(tmp_path / "full")])  # uninterrupted, in this process

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed)], env=_env(tmp_path), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # Each epoch prints its metrics line, then saves last.pt. At epoch 2's line,
        # epoch 1's checkpoint is on disk and epoch 2's may be half-written: kill there.
        wait_for_line(proc, lambda line: line.startswith('{"epoch": 2,'), what="epoch 2's metrics line")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        wait_for_exit(proc)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    epoch_killed = load_checkpoint(killed / "last.pt")["epoch"]
    assert epoch_killed in (1, 2)

    resumed = subprocess.run([sys.executable, "-m", "alexnet.train", "--resume", str(killed / "last.pt"),
                              "--threads", "1"], env=_env(tmp_path), cwd=ROOT,
                             capture_output=True, text=True, timeout=PROCESS_BOUND)  # waits on the process
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(killed / "last.pt")
    assert b["epoch"] == 3
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=1e-6)
    assert _metrics(killed) == _metrics(tmp_path / "full")
    assert not list(killed.glob(".*.tmp"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_replicas_stay_identical(image_folder, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(ROOT / "tests" / "ddp_worker.py"), str(image_folder), str(out)]
    run = subprocess.run(cmd, env={**_env(tmp_path), "GLOO_SOCKET_IFNAME": "lo"}, cwd=ROOT,
                         capture_output=True, text=True, timeout=PROCESS_BOUND)
    assert run.returncode == 0, run.stderr[-3000:]
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # They trained: every layer moved away from the initial weights.
    from alexnet.model import AlexNet, AlexNetConfig

    torch.manual_seed(0)  # the seed train() builds the model with (DDP then broadcasts rank 0's)
    init = AlexNet(AlexNetConfig.from_dict(load_checkpoint(out / "last.pt")["model_config"])).state_dict()
    for k in w0:
        if k.endswith("weight"):
            assert (w0[k] - init[k]).abs().max() > 1e-4, k
    # Rank 0 wrote one metrics line per epoch, from both ranks' shards.
    rows = _metrics(out)
    assert len(rows) == 2 and all(0 <= r["train_error"] <= 1 for r in rows)


def test_checkpoint_write_failure_leaves_old_file(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"epoch": 1, "w": torch.arange(4.0)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        # A lambda cannot be pickled: torch.save fails part-way through the write.
        save_atomic({"epoch": 2, "w": torch.zeros(1000), "bad": lambda: 0}, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_stale_temp_files_are_removed(tmp_path):
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "last.pt").write_bytes(b"x")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".last.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


@pytest.mark.parametrize("extra, error, message", [
    (["--epochs", "0"], SystemExit, "--epochs must be at least 1"),
    (["--schedule", "cosine"], SystemExit, "unknown --schedule 'cosine'; choose from plateau"),
    (["--precision", "fp16"], SystemExit, "unknown --precision 'fp16'; choose from fp32, bf16"),
    (["--dataset", "mnist"], SystemExit, "choose from cifar10, folder, imagenet-folder"),
    (["--dataset", "imagenet-folder"], SystemExit, "use --variant imagenet"),
])
def test_bad_settings_fail_clearly(image_folder, tmp_path, extra, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "r"), *SMALL, *extra])


def test_missing_data_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *SMALL])
    with pytest.raises(FileNotFoundError, match="CIFAR-10 folder .*nowhere does not exist: point --data-dir"):
        main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_missing_device(image_folder, tmp_path):
    with pytest.raises(SystemExit, match="'cuda' was asked for, but this machine has no CUDA GPU"):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "r"), *SMALL, "--device", "cuda"])
    with pytest.raises(SystemExit, match="no CUDA GPU"):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "r"), *SMALL, "--tower-devices", "cpu,cuda:1"])


def test_nan_loss_stops_training(image_folder, tmp_path):
    with pytest.raises(FloatingPointError, match=r"the loss became nan at epoch 1.*Lower --lr"):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "r"), *SMALL, "--lr", "1e12",
              "--epochs", "1"])
