"""Trained CIFAR-10 nets alone and as ensembles (their mean softmax): error and cost.

    nice -n 10 .venv/bin/python -m bench.bench_ensemble runs/teachers/v3.pt \\
        runs/teachers/v4.pt runs/teachers/v6.pt --data-dir ~/.cache/alexnet-data/cifar10

Each checkpoint (``alexnet.train``'s, or a shipped one) is run once over the
images; every non-empty set of them is then scored from those logits: its
top-1 error with a 95% interval over the images, and the paired difference
from the best single net on the same images (mean of the per-image
differences, 95% interval), which is narrower than the two intervals side by
side. The peer is the single net: an ensemble of k costs k forward passes,
and the seconds each net took are printed beside it.

``--split held-out`` (default) scores the images the runs held out of training
(``--val-split`` and ``--seed``, which must be the same in every run, else the
nets saw each other's held-out images); ``--split test`` the 10,000 test images.
The intervals cover the sampling of the images only: each net is one seed.
This is how a distillation run picks its teachers (``alexnet.train
--teachers``); the figures are what the in_progress README quotes.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from alexnet.checkpoint import load_checkpoint
from alexnet.data import hold_out, load_cifar10
from alexnet.loading import load_path
from alexnet.trust import logits_of
from analysis.experiments.claims import interval  # over thousands of images: mean +- 1.96 sd / sqrt(n)


def held_out_split(files: list[Path]) -> tuple[int, int]:
    """The (val_split, seed) every run shares, or a SystemExit that says which differ."""
    splits = {}
    for f in files:
        cfg = load_checkpoint(f).get("train_config") or {}  # a clear refusal of a bad file
        splits[f] = (cfg.get("val_split") or 0, cfg.get("seed"))
    if len(set(splits.values())) != 1 or not next(iter(splits.values()))[0]:
        said = "; ".join(f"{f}: --val-split {v} --seed {s}" for f, (v, s) in splits.items())
        raise SystemExit("--split held-out needs runs that held out the same images (the same "
                         f"--val-split > 0 and --seed): {said}. Use --split test")
    return next(iter(splits.values()))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_ensemble", description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder with train/ and test/ (default: the "
                                                    "project's data folder)")
    p.add_argument("--split", choices=["held-out", "test"], default="held-out")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    if a.split == "held-out":
        n, seed = held_out_split(a.checkpoints)
        _, data = hold_out(load_cifar10(a.data_dir, train=True), n, seed)
        what = f"the {n:,} training images held out by --val-split {n} --seed {seed}"
    else:
        data = load_cifar10(a.data_dir, train=False)
        what = f"the {len(data):,} test images"
    probs, seconds = {}, {}
    for f in a.checkpoints:
        loaded = load_path(f)
        t = time.perf_counter()
        with torch.no_grad():
            logits = logits_of(loaded.model.eval(), data.images, loaded.mean, loaded.std)
        seconds[f] = time.perf_counter() - t
        probs[f] = logits.softmax(dim=1)
    labels = data.labels

    def wrong(members) -> torch.Tensor:
        mean = sum(probs[f] for f in members) / len(members)
        return (mean.argmax(dim=1) != labels).double()

    singles = {f: wrong([f]) for f in a.checkpoints}
    best = min(a.checkpoints, key=lambda f: singles[f].sum().item())
    name = {f: f.parent.name if f.name == "last.pt" else f.stem for f in a.checkpoints}
    if len(set(name.values())) < len(name):
        name = {f: str(f) for f in a.checkpoints}
    print(f"top-1 error on {what} (95% intervals over the images; one seed per net)")
    print(f"{'nets':<34} {'error':>16} {'vs ' + name[best] + ' alone':>22} {'forward s':>10}")
    for k in range(1, len(a.checkpoints) + 1):
        for members in itertools.combinations(a.checkpoints, k):
            w = wrong(members)
            err, low, high = interval(w.tolist())
            diff, dlow, dhigh = interval((w - singles[best]).tolist())
            half, dhalf = (high - low) / 2, (dhigh - dlow) / 2
            cost = sum(seconds[f] for f in members)
            print(f"{' + '.join(name[f] for f in members):<34} {100 * err:6.2f}% +- {100 * half:4.2f}"
                  f" {100 * diff:+10.2f} +- {100 * dhalf:4.2f} {cost:10.1f}")


if __name__ == "__main__":
    main()
