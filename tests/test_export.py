"""alexnet.export end to end on a tiny run: the manifest carries calibration
fitted on the run's held-out images, the unsure rule and shifted accuracy,
and loading the exported weights applies them."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet.checkpoint import CheckpointError
from alexnet.data import CIFAR10_CLASSES
from alexnet.export import export
from alexnet.predict import calibration_of, predict
from alexnet.train import main as train
from alexnet.weights import load_path, sha256
from tests.synthetic_data import make_image_folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    data = make_image_folder(root / "cifar10", per_class=6, splits=("train", "test"),
                             names=list(CIFAR10_CLASSES))  # 60 train, 60 test
    out = root / "run"
    train(["--data-dir", str(data), "--out", str(out), "--widths", "8,16,16,16,16,32,32",
           "--init", "kaiming", "--threads", "1", "--batch-size", "16", "--epochs", "2",
           "--val-split", "20", "--schedule", "constant", "--lr", "0.01"])
    return data, out


def test_manifest_has_calibration_unsure_and_shifted(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data, out = run
    m = export(out, data, tmp_path / "pretrained")
    on_disk = json.loads((tmp_path / "pretrained" / "cifar10_alexnet.json").read_text())
    assert on_disk["calibration"]["temperature"] == m["calibration"]["temperature"] > 0
    assert on_disk["calibration"]["fitted_on"].startswith("20 held-out")
    assert sum(on_disk["calibration"]["reliability_after"]["count"]) == 60
    assert set(on_disk["shifted_test"]["shifts"]) == {"zoom", "blur", "jpeg", "colour", "contrast"}
    assert on_disk["shifted_test"]["clean_top1_accuracy"] == pytest.approx(on_disk["test"]["top1_accuracy"])
    loaded = load_path(tmp_path / "pretrained" / "cifar10_alexnet.pt", info=on_disk)
    t, rule = calibration_of(loaded)
    assert t == m["calibration"]["temperature"]
    assert rule["threshold"] == m["unsure"]["scores"][m["unsure"]["score"]]["threshold"]
    # the "knn" score: 40 training images (60 less the 20 held out) as its reference
    knn, ref = on_disk["unsure"]["scores"]["knn"], on_disk["unsure"]["reference"]
    assert knn["k"] == 5 and knn["references"] == ref["images"] == 40
    assert ref["sha256"] == sha256(tmp_path / "pretrained" / ref["file"])
    # with "knn" chosen, a prediction is scored by the 5th most similar reference, worked here
    # with torch's cosine_similarity on the net's own act7 of the centre crop
    as_knn = {**on_disk, "unsure": {**on_disk["unsure"], "score": "knn"}}
    loaded = load_path(tmp_path / "pretrained" / "cifar10_alexnet.pt", info=as_knn)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    pred = predict(loaded, picture)
    with torch.no_grad():
        f = loaded.model.forward_until(loaded.preprocess(picture), "act7").flatten(1)
    reference = torch.load(tmp_path / "pretrained" / ref["file"], weights_only=True)["features"].float()
    fifth = torch.nn.functional.cosine_similarity(f, reference).sort(descending=True).values[4]
    assert pred.score == pytest.approx(float(fifth), abs=1e-5)
    assert pred.unsure == (pred.score < knn["threshold"])
    (tmp_path / "pretrained" / ref["file"]).write_bytes(b"not the features")
    with pytest.raises(CheckpointError, match="reference features, is missing or does not match"):
        predict(load_path(tmp_path / "pretrained" / "cifar10_alexnet.pt", info=as_knn), picture)
    # the run's departures from AK 5, and only those: He init, 2 epochs, lr 0.01 is the paper's
    assert [(d["setting"], d["here"]) for d in m["departures_from_ak5"]] == [
        ("init", "kaiming"), ("epochs", 2), ("schedule", "constant"),
        ("widths", "8,16,16,16,16,32,32"), ("val_split", 20)]
    assert "20 training images held out" in m["validation"]


def test_run_without_held_out_images_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data = make_image_folder(tmp_path / "cifar10", per_class=3, splits=("train", "test"),
                             names=list(CIFAR10_CLASSES))
    train(["--data-dir", str(data), "--out", str(tmp_path / "run"), "--widths", "8,16,16,16,16,32,32",
           "--threads", "1", "--batch-size", "16", "--epochs", "1", "--schedule", "constant"])
    m = export(tmp_path / "run", data, tmp_path / "pretrained")
    assert "no temperature was fitted" in m["calibration"]["note"] and "unsure" not in m
    assert "on the 10,000 test images, which the constant schedule never looks at" in m["validation"]
    assert [d["setting"] for d in m["departures_from_ak5"]] == ["epochs", "schedule", "widths"]


def test_a_second_phase_ships_its_average_and_lists_both_commands(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data, first = run
    shipped = tmp_path / "v1"
    export(first, data, shipped)  # the first run as shipped: half precision, its history in the manifest
    second = tmp_path / "run2"
    train(["--data-dir", str(data), "--out", str(second), "--widths", "8,16,16,16,16,32,32",
           "--init", "kaiming", "--threads", "1", "--batch-size", "16", "--epochs", "4",
           "--val-split", "20", "--schedule", "constant", "--lr", "0.01", "--cutout", "8",
           "--average-from", "3", "--init-from", str(shipped / "cifar10_alexnet.pt")])
    m = export(second, data, tmp_path / "v2")
    ckpt = torch.load(second / "last.pt", weights_only=True)
    ships = torch.load(tmp_path / "v2" / "cifar10_alexnet.pt", weights_only=True)["model"]
    assert all(torch.equal(v, ckpt["average"][k].half()) for k, v in ships.items())
    assert m["weights"] == "the equal average of the weights at the end of epochs 3-4 (2 epochs; --average-from)"
    assert m["epochs"] == 4 and [h["epoch"] for h in m["history"]] == [1, 2, 3, 4]
    assert [s["epoch"] for s in m["snapshots"]] == [1, 2, 4]
    assert len(m["command"]) == 3
    assert [(r["epochs"], r["train_config"]["out"]) for r in m["earlier_runs"]] == [(2, str(first))]
    assert [d["setting"] for d in m["earlier_runs"][0]["departures_from_ak5"]] == [
        "init", "epochs", "schedule", "widths", "val_split"]  # the first run's own
    assert "earlier_runs" not in json.loads((shipped / "cifar10_alexnet.json").read_text())
    assert m["command"][0].endswith(f"--out {first}") and "--init-from" not in m["command"][0]
    assert f"--init-from {first / 'last.pt'} " in m["command"][1]  # the run before, as made
    assert "--cutout 8" in m["command"][1] and "--average-from 3" in m["command"][1]
    assert f"went on from {shipped / 'cifar10_alexnet.pt'}" in m["reproducing"]
    settings = [d["setting"] for d in m["departures_from_ak5"]]
    assert {"cutout", "average_from", "init_from"} <= set(settings)


def test_a_distilled_run_names_its_teachers_and_their_sha256(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data, first = run
    student = tmp_path / "student"
    train(["--data-dir", str(data), "--out", str(student), "--widths", "8,16,16,16,16,32,32",
           "--init", "kaiming", "--threads", "1", "--batch-size", "16", "--epochs", "2",
           "--val-split", "20", "--schedule", "constant", "--lr", "0.01",
           "--teachers", str(first / "last.pt"), "--distill-temperature", "2"])
    m = export(student, data, tmp_path / "out")
    assert m["teachers"] == [{"path": str(first / "last.pt"), "sha256": sha256(first / "last.pt")}]
    said = {d["setting"]: d for d in m["departures_from_ak5"]}
    assert said["teachers"]["here"] == str(first / "last.pt") and "Hinton" in said["teachers"]["why"]
    assert f"--teachers {first / 'last.pt'} --distill-temperature 2.0" in m["command"][0]
