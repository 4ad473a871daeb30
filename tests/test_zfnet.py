"""ZFNet (ZF Fig. 3) against the paper's numbers, torch's own conv/pool arithmetic,
hand-worked receptive fields, and the training command with --arch zfnet."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from alexnet.registry import build_model, model_entry
from alexnet.summary import layer_table, receptive_fields, totals
from alexnet.weights import load_path

from tests.synthetic_data import make_image_folder

ROOT = Path(__file__).resolve().parent.parent


def meta(name, **kw):
    with torch.device("meta"):
        return build_model(name, **kw)


def test_parameters_counted_by_hand():
    rows = {r.name: r for r in layer_table(meta("zfnet"))}
    # weights + biases from ZF Fig. 3's kernel shapes: conv2 sees all 96 maps (no towers)
    by_hand = {"conv1": 96 * 7 * 7 * 3 + 96, "conv2": 256 * 5 * 5 * 96 + 256,
               "conv3": 384 * 3 * 3 * 256 + 384, "conv4": 384 * 3 * 3 * 384 + 384,
               "conv5": 256 * 3 * 3 * 384 + 256, "fc6": 6 * 6 * 256 * 4096 + 4096,
               "fc7": 4096 * 4096 + 4096, "fc8": 4096 * 1000 + 1000}
    assert list(by_hand.values()) == [14_208, 614_656, 885_120, 1_327_488, 884_992,
                                      37_752_832, 16_781_312, 4_097_000]
    assert {n: rows[n].params for n in by_hand} == by_hand
    assert totals(list(rows.values()))[0] == sum(by_hand.values()) == 62_357_608
    wide = {r.name: r.params for r in layer_table(meta("zfnet_wide"))}
    assert wide["conv3"] == 512 * 9 * 256 + 512 and wide["conv4"] == 1024 * 9 * 512 + 1024
    assert wide["conv5"] == 512 * 9 * 1024 + 512 and wide["fc6"] == 6 * 6 * 512 * 4096 + 4096


def test_shapes_stage_by_stage_against_torch_arithmetic():
    """Each stage of a narrow ZFNet (same geometry) against torch's functional ops
    with the kernels, strides and paddings the module docstring derives."""
    torch.manual_seed(0)
    net = build_model("zfnet", **model_entry("zfnet").small).eval()
    x = torch.randn(1, 3, 224, 224)
    acts = net.activations(x, net.layer_names)
    c = lambda name: net.layer(name).weight  # noqa: E731
    want = {}
    y = F.conv2d(x, c("conv1"), stride=2, padding=1); want["conv1"] = y.shape
    y = F.max_pool2d(y, 3, 2, padding=1); want["pool1"] = y.shape
    y = F.conv2d(y, c("conv2"), stride=2, padding=0); want["conv2"] = y.shape
    y = F.max_pool2d(y, 3, 2, padding=1); want["pool2"] = y.shape
    y = F.conv2d(y, c("conv3"), padding=1); want["conv3"] = y.shape
    y = F.max_pool2d(y, 3, 2); want["pool5"] = y.shape
    for name, shape in want.items():
        assert acts[name].shape == shape, name
    sides = {n: acts[n].shape[-1] for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")}
    assert sides == {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv5": 13, "pool5": 6}
    assert acts["fc8"].shape == (1, 1000)
    # the table's arithmetic agrees with the real forward pass
    for row in layer_table(net):
        assert tuple(acts[row.name].shape[1:]) == row.shape, row.name
    # ZF Fig. 3 order: pool, then normalise
    assert net.layer_names[:4] == ("conv1", "act1", "pool1", "lrn1")
    assert net.roles.towers == 1 and all(net.layer(f"conv{i}").groups == 1 for i in range(1, 6))


def test_cifar_analogue_shapes():
    torch.manual_seed(0)
    net = build_model("zfnet_cifar", **model_entry("zfnet_cifar").small).eval()
    acts = net.activations(torch.randn(2, 3, 32, 32), ("conv1", "pool1", "pool2", "act5", "pool5", "fc8"))
    assert [acts[n].shape[-1] for n in ("conv1", "pool1", "pool2", "act5", "pool5")] == [32, 16, 8, 8, 4]
    assert acts["fc8"].shape == (2, 10)


def test_receptive_fields_worked_by_hand():
    # rf' = rf + (k - 1) * jump, jump' = jump * stride, worked out on paper:
    # AlexNet: conv1 11 (j 4), pool1 11+2*4=19 (j 8), conv2 19+4*8=51, pool2 51+2*8=67 (j 16),
    # conv3 67+2*16=99, conv4 131, conv5 163, pool5 163+2*16=195 (j 32): the known 195.
    a = receptive_fields(meta("alexnet"))
    assert [a[n][0] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")] == \
        [11, 19, 51, 67, 99, 131, 163, 195]
    assert a["pool5"][1] == 32 and a["act1"] == a["conv1"]
    # ZFNet: conv1 7 (j 2), pool1 7+2*2=11 (j 4), conv2 11+4*4=27 (j 8), pool2 27+2*8=43 (j 16),
    # conv3 75, conv4 107, conv5 139, pool5 139+2*16=171 (j 32).
    z = receptive_fields(meta("zfnet"))
    assert [z[n][0] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")] == \
        [7, 11, 27, 43, 75, 107, 139, 171]
    assert [z[n][1] for n in ("conv1", "pool1", "conv2", "pool2", "pool5")] == [2, 4, 8, 16, 32]
    # the deconvnet's box for an interior unit is as wide as the field
    from analysis._layers import receptive_field
    assert receptive_field(meta("zfnet"), "act5", 6, 6).size == (139, 139)


def test_summary_command_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "alexnet.summary", "zfnet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "62,357,608 parameters" in out.stdout and "96 x 110 x 110" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "alexnet.summary", "zfnett"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_train_cli_trains_and_reloads_a_cifar_zfnet(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    data = make_image_folder(tmp_path / "data", per_class=8)
    out = tmp_path / "run"
    from alexnet.train import main
    main(["--arch", "zfnet", "--data-dir", str(data), "--out", str(out), "--dataset", "folder",
          "--widths", "8,16,16,16,16,32,32", "--init", "kaiming", "--threads", "1",
          "--batch-size", "16", "--epochs", "1"])
    rows = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["epoch"] == 1
    loaded = load_path(out / "last.pt")
    assert type(loaded.model).__name__ == "ZFNet" and loaded.model.layer_names[2] == "pool1"
    assert loaded.dataset == "cifar10" and len(loaded.classes) == 4
    with torch.no_grad():
        assert loaded.model(torch.zeros(1, 3, 32, 32)).shape == (1, 4)


@pytest.mark.parametrize("args, says", [
    (["--arch", "vgg"], "unknown --arch 'vgg'; choose from alexnet, zfnet"),
    (["--arch", "zfnet", "--tower-devices", "cpu,cpu"], "ZFNet has one tower"),
    (["--arch", "zfnet", "--activation", "tanh"], "uses ReLUs"),
])
def test_bad_arch_settings_fail_in_one_line(tmp_path, args, says):
    r = subprocess.run([sys.executable, "-m", "alexnet.train", "--data-dir", str(tmp_path),
                        "--out", str(tmp_path / "o"), *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr
