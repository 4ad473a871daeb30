"""Turn a finished training run into the shipped checkpoint and its manifest.

    python -m alexnet.export runs/cifar10-shipped --data-dir ~/data/cifar10

Writes ``pretrained/cifar10_alexnet.pt`` (half precision), the conv-layer
snapshots for the feature-evolution view (ZF Fig. 4) under
``pretrained/snapshots/``, and ``pretrained/cifar10_alexnet.json``: the
command, seed, epochs, wall time and machine, the test errors measured here
from the images, the per-tower colour specificity of conv1 (AK Fig. 3) and
the sha256 the registry checks on every load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint, save_atomic, shipped_weights
from .colour import tower_split_test, tower_summary
from .crops import cifar_ten_crop
from .data import BatchIterator, hold_out, load_cifar10, normalised_black

from .evaluate import evaluate
from .configs import config_from_dict, net_from_config
from .weights import CIFAR10_FILE, CIFAR10_MANIFEST, PRETRAINED, load_path, sha256


def _train_command(cfg: dict) -> str:
    from .train import TrainConfig

    default = TrainConfig()
    args = []
    for k, v in cfg.items():
        if k in ("resume", "data_dir", "out") or v == getattr(default, k):
            continue
        flag = "--" + k.replace("_", "-")
        args.append(flag if v is True else f"--no-{k.replace('_', '-')}" if v is False else f"{flag} {v}")
    return "python -m alexnet.train --data-dir DATA " + " ".join(args)


# How a shipped run may depart from AK 5's recipe (alexnet.train's defaults are the paper's):
# setting -> (the paper's value in words, why).
DEPARTURES = {
    "init": ("N(0, 0.01), biases 1 in conv2, conv4, conv5 and the fc layers, else 0",
             "He init trains this net from scratch within CPU hours; the paper's starts it much more slowly"),
    "epochs": ("about 90", "a fixed budget that two CPU cores finish in hours"),
    "schedule": ("lr divided by 10 whenever validation error stopped improving, three times",
                 "a schedule fixed in advance, with no validation-driven drops to wait for "
                 "(onecycle: up to the peak lr and down to zero; constant: one lr throughout, as "
                 "weight averaging wants)"),
    "lr": ("0.01", "suits the schedule (onecycle: its peak)"),
    "label_smoothing": ("none: plain cross-entropy",
                        "softer targets, so that the net is less sure of itself on pictures unlike CIFAR-10"),
    "augment": ("random crops and mirror images, PCA colour noise (AK 4.1)",
                "scale, aspect, colour and focus changes on top of AK 4.1's, for photos that are "
                "not framed like CIFAR-10"),
    "widths": ("96, 256, 384, 384, 256 kernels and 4096-unit fc layers at 224x224; this project's "
               "CIFAR-scale default is 64, 128, 192, 192, 128 and 1024",
               "wider than the CIFAR-scale default, for accuracy; the structure (two towers, LRN, "
               "overlapping pools, dropout) is the paper's"),
    "precision": ("32-bit floats (cuda-convnet)",
                  "bfloat16 convolutions and matmuls under autocast, with float32 weights and "
                  "updates: training steps about 1.6x as fast on a CPU with AVX512-BF16 "
                  "(bench/bench_train.py)"),
    "cutout": ("none", "a square of every training image blanked (DeVries and Taylor, 2017), so the "
                       "net cannot lean on one part of the picture: a regulariser, where a wider net "
                       "only overfit (pretrained/in_progress/README.md)"),
    "average_from": ("none: the weights at the end of the last epoch",
                     "the shipped weights are the equal average of the weights at the end of each "
                     "epoch from this one on (stochastic weight averaging, Izmailov et al., 2018), "
                     "which lands nearer the middle of a wide minimum than the last weights do"),
    "teachers": ("labels only: cross-entropy against the one right class",
                 "the net also learnt the listed trained nets' mean prediction on each training "
                 "image, softened by --distill-temperature and weighted by --distill-weight "
                 "(knowledge distillation, Hinton et al., 2015): one net that answers like an "
                 "ensemble of them"),
    "init_from": ("one run from random weights",
                  "a second phase that goes on from an earlier run's trained weights (its command is "
                  "the first in the list), so a change of recipe costs epochs, not a new run"),
    "val_split": ("ImageNet's own validation set",
                  "held out of training, to watch the run and to fit the temperature and the unsure "
                  "threshold: CIFAR-10 has no validation set"),
}


def departures(cfg: dict) -> list[dict]:
    """Each training setting of ``cfg`` that differs from AK 5 (alexnet.train's defaults),
    with the paper's value and why: the manifest writes every departure down."""
    from .train import TrainConfig

    paper = TrainConfig()
    return [{"setting": k, "here": cfg[k], "paper": said, "why": why}
            for k, (said, why) in DEPARTURES.items() if k in cfg and cfg[k] != getattr(paper, k)]


def _validation(cfg: dict) -> str:
    if cfg.get("val_split"):
        return (f"The val_* errors in history are on {cfg['val_split']:,} training images held out "
                f"by --val-split (chosen by seed {cfg['seed']}); the same images fit the temperature "
                "and the unsure threshold. The test images were seen only by this export.")
    schedule = cfg.get("schedule", "plateau")
    steered = ("; the plateau schedule's lr drops watched them, so the test error is not an untouched "
               "estimate" if schedule == "plateau" else f", which the {schedule} schedule never looks at")
    return ("CIFAR-10 has no validation split: the val_* errors in history are on the 10,000 test "
            f"images{steered}.")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {platform.system()}"


def colour_report(model, model_config: dict, seed: int) -> dict:
    """AK Fig. 3 for this net, in numbers and in words: conv1's colour specificity per
    tower, next to the same net at its initialisation (what training changed)."""
    torch.manual_seed(seed)
    untrained = net_from_config(config_from_dict(model_config))
    trained, start = tower_summary(model), tower_summary(untrained)
    means = [t["mean"] for t in trained]
    reading = [f"tower {'AB'[t['tower']]}: mean {t['mean']:.2f} (at initialisation "
               f"{s['mean']:.2f}), {t['fraction_above']:.0%} of kernels above {t['threshold']}"
               for t, s in zip(trained, start)]
    if all(t["mean"] < s["mean"] for t, s in zip(trained, start)):
        reading.append("training made every tower's kernels greyer than at initialisation")
    if len(means) == 2:
        hi, lo = (1, 0) if means[1] >= means[0] else (0, 1)
        reading.append(f"tower {'AB'[hi]} is the more colour-specific by {means[hi] - means[lo]:.2f}; "
                       "AK Fig. 3 shows a sharp split (one tower grey edges, the other colour "
                       "blobs), so a gap this size is " +
                       ("a weak form of it" if means[hi] - means[lo] < 0.25 else "that split"))
    split = tower_split_test(model)
    if split is not None:
        reading.append(f"permutation test of the gap (B - A = {split.difference:+.2f}): p = "
                       f"{split.p_value:.3g}, " + ("significant" if split.significant else
                                                   "not significant: no reliable split"))
    return {"definition": "the share of a kernel's energy that is not grey: 0 for a grey-level "
                          "kernel, 1 for a colour-opponent one, about 2/3 for independent noise "
                          "per colour (alexnet.colour.colour_specificity)",
            "towers": trained, "at_initialisation": start, "reading": reading}


UNSURE_FILE = "cifar10_alexnet_unsure.pt"  # the "knn" unsure score's reference features
UNSURE_REFERENCES = 2000  # training images (not held out) whose features the "knn" score compares with


def _trust(loaded, cfg: dict, data_dir, test, out: Path) -> dict:
    """Calibration, the unsure threshold and shifted accuracy (alexnet.trust),
    fitted on the run's held-out training images; a note when it held none out.
    Writes the "knn" score's reference features (``UNSURE_FILE``) beside the weights."""
    from .trust import features_and_logits, trust_report

    if not cfg.get("val_split"):
        return {"calibration": {"note": "this run held out no training images (--val-split), so "
                                        "no temperature was fitted: probabilities are the raw softmax"}}
    rest, held = hold_out(load_cifar10(data_dir, train=True), cfg["val_split"], cfg["seed"])
    pick = torch.randperm(len(rest), generator=torch.Generator().manual_seed(cfg["seed"]))
    pick = pick[:UNSURE_REFERENCES].sort().values
    print(f"measuring trust: features of {len(pick)} training images for the knn score", flush=True)
    reference = features_and_logits(loaded.model, rest.images[pick], loaded.mean, loaded.std)[0].half()
    save_atomic({"features": reference, "layer": loaded.model.roles.penultimate}, out / UNSURE_FILE)
    reference = reference.float()  # the threshold is set with the features as they ship
    report = trust_report(loaded.model, loaded.mean, loaded.std, held, test, seed=0, reference=reference,
                          progress=lambda what: print(f"measuring trust: {what}", flush=True))
    report["unsure"]["reference"] = {
        "file": UNSURE_FILE, "sha256": sha256(out / UNSURE_FILE), "images": len(pick),
        "layer": loaded.model.roles.penultimate,
        "drawn_from": f"the run's training images, not the {len(held)} held out, seed {cfg['seed']}"}
    return report


def _commands(ckpt: dict, run: Path) -> list[str]:
    """The commands that made the run, in order: a run that went on from another
    (--init-from) lists the earlier runs' first."""
    phases = ckpt.get("phases", [])
    earlier = [_train_command(p["train_config"]) + f" --out {p['train_config']['out']}" for p in phases]
    cfg = ckpt["train_config"]
    if phases:  # whatever file it read, it went on from the run before it
        cfg = {**cfg, "init_from": str(Path(phases[-1]["train_config"]["out"]) / "last.pt")}
    return earlier + [_train_command(cfg) + f" --out {run}",
                      f"python -m alexnet.export {run} --data-dir DATA"]


def _which_weights(ckpt: dict) -> str:
    if "average" not in ckpt:
        return f"the weights at the end of epoch {ckpt['epoch']}"
    last = ckpt["epoch"]
    first = last - ckpt["averaged"] + 1
    return (f"the equal average of the weights at the end of epochs {first}-{last} "
            f"({ckpt['averaged']} epochs; --average-from)")


def export(run_dir, data_dir=None, out_dir=PRETRAINED) -> dict:
    run = Path(run_dir)
    ckpt = load_checkpoint(run / "last.pt")
    out = Path(out_dir)
    weights = out / CIFAR10_FILE.name
    save_atomic({"model": {k: v.half() for k, v in shipped_weights(ckpt).items()},
                 "model_config": ckpt["model_config"], "classes": ckpt["classes"],
                 "epoch": ckpt["epoch"], "train_config": ckpt["train_config"]}, weights)

    snaps = []
    (out / "snapshots").mkdir(parents=True, exist_ok=True)
    for old in (out / "snapshots").glob("epoch*.pt"):  # an earlier export's epochs
        old.unlink()
    for p in sorted((run / "snapshots").glob("epoch*.pt")):
        shutil.copyfile(p, out / "snapshots" / p.name)
        snaps.append({"file": f"snapshots/{p.name}", "epoch": int(p.stem[5:]), "sha256": sha256(p)})

    loaded = load_path(weights)  # the half-precision weights, as users get them
    test = load_cifar10(data_dir, train=False)
    batches = list(BatchIterator(test, 500, train=False, mean=loaded.mean, std=loaded.std).epoch(0))
    single = evaluate(loaded.model, batches, progress=True)
    black = normalised_black(loaded.mean, loaded.std)
    ten = evaluate(loaded.model, batches, progress=True,
                   ten_crop=lambda x: cifar_ten_crop(x, fill=black))

    history = ckpt["history"]
    cfg = ckpt["train_config"]
    manifest = {
        "name": "cifar10",
        "file": weights.name,
        "sha256": sha256(weights),
        "command": _commands(ckpt, run),
        "weights": _which_weights(ckpt),
        "data": "CIFAR-10 (50,000 training images, 10,000 test images). DATA is a folder with "
                "train/<class>/ and test/<class>/ images, or torchvision's CIFAR-10 archive "
                "(add --download on a machine with internet). This run read a JPEG re-encoding "
                "of CIFAR-10, whose pixels differ slightly from the original batches.",
        "validation": _validation(cfg),
        "reproducing": "The same command with the same seed gives the same weights on the same "
                       "torch build and thread count (data order, augmentation and dropout are "
                       "functions of seed and epoch); other CPUs or thread counts round "
                       "differently and land on close, not identical, weights." + (
                           f" This run went on from {cfg['init_from']} (the earlier run's weights as "
                           "that file holds them, e.g. in half precision if shipped)."
                           if cfg.get("init_from") else ""),
        "seed": cfg["seed"],
        "epochs": ckpt["epoch"],
        "train_config": cfg,
        **({"earlier_runs": [{**r, "departures_from_ak5": departures(r["train_config"])}
                             for r in ckpt["phases"]]} if ckpt.get("phases") else {}),  # in order
        "departures_from_ak5": departures(cfg),
        **({"teachers": ckpt["teachers"]} if ckpt.get("teachers") else {}),  # their files' sha256
        "model_config": ckpt["model_config"],
        "wall_time_seconds": round(sum(h["seconds"] for h in history), 1),
        "machine": _machine(),
        "test": {"images": single.n, "top1_accuracy": 1 - single.top1, "top5_accuracy": 1 - single.top5,
                 "ten_crop_top1_accuracy": 1 - ten.top1, "ten_crop_top5_accuracy": 1 - ten.top5},
        "conv1_colour_specificity": colour_report(loaded.model, ckpt["model_config"], cfg["seed"]),
        **_trust(loaded, cfg, data_dir, test, out),
        "snapshots": snaps,
        "history": history,
    }
    tmp = out / (CIFAR10_MANIFEST.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out / CIFAR10_MANIFEST.name)
    return manifest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m alexnet.export", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="the --out folder of a finished alexnet.train run")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder with test/<class>/ images")
    p.add_argument("--out-dir", default=str(PRETRAINED))
    a = p.parse_args(argv)
    m = export(a.run_dir, a.data_dir, a.out_dir)
    print(json.dumps({k: m[k] for k in ("file", "sha256", "epochs", "wall_time_seconds", "test",
                                        "conv1_colour_specificity")}, indent=1))


if __name__ == "__main__":
    from .unreadable import UnreadableImages

    try:
        main()
    except UnreadableImages as e:  # the manifest's test score must count every test image
        raise SystemExit(f"error: {e.summary}; remove or replace them, then export again") from None
    except (OSError, CheckpointError, ValueError) as e:  # the user's to fix: no traceback
        raise SystemExit(f"error: {e}") from None
