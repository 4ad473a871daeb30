"""A second phase of training: --init-from goes on from a trained net, --cutout
blanks a square of every training image, --average-from ships the average of
the weights at the ends of epochs (SWA). Each is checked against a reference
worked here by hand: loops over pixels, the earlier run's files, the mean of
two epochs' weights."""

import json
from pathlib import Path

import pytest
import torch

from alexnet.checkpoint import load_checkpoint, save_atomic
from alexnet.crops import cutout
from alexnet.data import BatchIterator, TensorDataset
from alexnet.train import main
from alexnet.weights import load_path

SMALL = ["--dataset", "folder", "--widths", "8,16,16,16,16,32,32", "--init", "kaiming",
         "--threads", "1", "--batch-size", "16", "--schedule", "constant"]

pytestmark = pytest.mark.usefixtures("isolated_cache")  # image_folder: 64 train, 64 val images


def _run(image_folder, out, *extra):
    main(["--data-dir", str(image_folder), "--out", str(out), *SMALL, *extra])


def _metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


# cutout --------------------------------------------------------------------

@pytest.mark.parametrize("side", [4, 5])
def test_cutout_blanks_a_square_around_a_drawn_centre_clipped_at_the_border(side):
    x = torch.randn(40, 3, 8, 8)
    out = cutout(x, side, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws: centre rows, then centre columns
    cy, cx = torch.randint(0, 8, (40,), generator=g), torch.randint(0, 8, (40,), generator=g)
    clipped = 0
    for i in range(40):
        want = x[i].clone()
        top, left = int(cy[i]) - side // 2, int(cx[i]) - side // 2
        for r in range(8):
            for c in range(8):
                if top <= r < top + side and left <= c < left + side:
                    want[:, r, c] = 0.0
        assert torch.equal(out[i], want), i
        clipped += int(min(top, left) < 0 or max(top, left) + side > 8)
    assert clipped > 5  # the border case was exercised
    assert not torch.equal(out, x) and x.abs().min() > 0  # the input is left as it was


@pytest.mark.parametrize("augment", ["crop-flip", "photo"])
def test_batches_with_cutout_are_those_without_it_less_one_square(augment):
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randint(1, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=gen),
                         torch.arange(48) % 4, tuple("abcd"))
    plain = list(BatchIterator(data, 16, train=True, seed=1, augment=augment).epoch(2))
    cut = list(BatchIterator(data, 16, train=True, seed=1, augment=augment, cutout=10).epoch(2))
    for (a, la), (b, lb) in zip(plain, cut):
        assert torch.equal(la, lb)
        changed = (a != b).any(1)  # (N, H, W)
        assert torch.equal(b.masked_select(changed[:, None]), torch.zeros(int(changed.sum()) * 3))
        for m in changed:  # one square (clipped), at most 10 x 10
            rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
            assert 0 < len(rows) <= 10 and 0 < len(cols) <= 10
            assert int(m.sum()) <= len(rows) * len(cols)


# --init-from ---------------------------------------------------------------

def test_init_from_goes_on_from_the_earlier_run(image_folder, tmp_path):
    _run(image_folder, tmp_path / "a", "--epochs", "2")
    before = load_checkpoint(tmp_path / "a" / "last.pt")
    # an lr so small that epoch 3 leaves the weights where they were loaded
    _run(image_folder, tmp_path / "b", "--epochs", "3", "--lr", "1e-12",
         "--init-from", str(tmp_path / "a" / "last.pt"), "--snapshot-epochs", "1,2")
    after = load_checkpoint(tmp_path / "b" / "last.pt")
    for k, v in before["model"].items():
        torch.testing.assert_close(after["model"][k], v, rtol=0, atol=1e-6)
    assert _metrics(tmp_path / "b")[:2] == _metrics(tmp_path / "a") == before["history"]
    assert [r["epoch"] for r in _metrics(tmp_path / "b")] == [1, 2, 3]
    for name in ("epoch001.pt", "epoch002.pt"):  # the earlier run's snapshots, as they were
        assert (tmp_path / "b" / "snapshots" / name).read_bytes() == \
               (tmp_path / "a" / "snapshots" / name).read_bytes()
    assert (tmp_path / "b" / "snapshots" / "epoch003.pt").is_file()
    assert after["begun_at"] == 2
    assert after["phases"] == [{"train_config": before["train_config"], "epochs": 2}]
    assert after["train_config"]["init_from"] == str(tmp_path / "a" / "last.pt")


def test_init_from_a_shipped_checkpoint_reads_the_history_beside_it(image_folder, tmp_path):
    _run(image_folder, tmp_path / "a", "--epochs", "1")
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    shipped = tmp_path / "pretrained" / "net.pt"  # as alexnet.export writes it: half, no history
    shipped.parent.mkdir()
    save_atomic({"model": {k: v.half() for k, v in state["model"].items()},
                 "model_config": state["model_config"], "classes": state["classes"],
                 "epoch": 1, "train_config": state["train_config"]}, shipped)
    with pytest.raises(ValueError, match=r"its 1 epochs' history is not in it, nor in net.json beside it"):
        _run(image_folder, tmp_path / "b", "--epochs", "2", "--init-from", str(shipped))
    shipped.with_suffix(".json").write_text(json.dumps({"history": state["history"]}))
    _run(image_folder, tmp_path / "b", "--epochs", "2", "--init-from", str(shipped))
    assert _metrics(tmp_path / "b")[0] == state["history"][0]


@pytest.mark.parametrize("extra, error, message", [
    (["--epochs", "2"], SystemExit, r"--epochs counts the 2 epochs of --init-from .* give more than 2 "
                                    r"\(e.g. --epochs 22 for 20 more\)"),
    (["--epochs", "3", "--widths", "8,16,16,16,8,32,32"], SystemExit,
     r"is a different net \(widths: \[8, 16, 16, 16, 16, 32, 32\] there, \[8, 16, 16, 16, 8, 32, 32\] "
     r"here\): give this command the settings it was trained with"),
    (["--epochs", "3", "--val-split", "8"], SystemExit,
     r"held out --val-split 0 images with --seed 0; this run would hold out others"),
    (["--epochs", "3", "--resume", "RUN"], SystemExit, r"give one of them"),
])
def test_init_from_refuses_what_cannot_go_on(image_folder, tmp_path, extra, error, message):
    _run(image_folder, tmp_path / "a", "--epochs", "2")
    extra = [str(tmp_path / "a" / "last.pt") if e == "RUN" else e for e in extra]
    with pytest.raises(error, match=message):
        _run(image_folder, tmp_path / "b", "--init-from", str(tmp_path / "a" / "last.pt"), *extra)


@pytest.mark.parametrize("extra, message", [
    (["--cutout", "-1"], r"--cutout is the side of the blanked square in pixels, 0 for none; got -1"),
    (["--average-from", "3", "--epochs", "2"], r"--average-from is the epoch .* at most --epochs 2; got 3"),
])
def test_bad_phase_settings_fail_clearly(image_folder, tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        _run(image_folder, tmp_path / "a", *extra)


# --average-from ------------------------------------------------------------

def test_average_is_the_mean_of_the_epoch_end_weights_across_resumes(image_folder, tmp_path):
    last = tmp_path / "a" / "last.pt"
    _run(image_folder, tmp_path / "a", "--epochs", "2", "--average-from", "2", "--cutout", "8")
    ends = [load_checkpoint(last)]
    for epochs in ("3", "4"):  # each resume must carry the average and its count on
        main(["--resume", str(last), "--epochs", epochs, "--threads", "1"])
        ends.append(load_checkpoint(last))
    assert [e["averaged"] for e in ends] == [1, 2, 3]
    for k, v in ends[-1]["average"].items():
        want = sum(e["model"][k] for e in ends) / 3  # epochs 2, 3 and 4
        torch.testing.assert_close(v, want, rtol=1e-5, atol=1e-6)
    key = "classifier.fc8.weight"  # the average is not the last weights
    assert not torch.allclose(ends[-1]["average"][key], ends[-1]["model"][key])
    rows = _metrics(tmp_path / "a")
    assert [r.get("averaged_epochs") for r in rows] == [None, 1, 2, 3]
    assert all(0 <= r["average_val_top1_error"] <= 1 for r in rows[1:])
    # loading the run's last.pt gives the net that ships: the average, as the last snapshot holds
    loaded = load_path(last)
    assert loaded.info["averaged_epochs"] == 3
    assert torch.equal(loaded.model.state_dict()[key], ends[-1]["average"][key])
    snap = torch.load(tmp_path / "a" / "snapshots" / "epoch004.pt", weights_only=True)["features"]
    assert snap and all(torch.equal(v, ends[-1]["average"][k].half()) for k, v in snap.items())
