"""Command line for the experiments (every one in ``registry.EXPERIMENTS``).

    python -m analysis.experiments --help                      # lists them
    python -m analysis.experiments relu-tanh --preset quick --data-dir ~/data/cifar10
    python -m analysis.experiments relu-tanh --preset full --seeds 0 1 2 --out relu_tanh.json
    python -m analysis.experiments pooling --preset quick
    python -m analysis.experiments reference --experiments dropout --seeds 0 1 2   # -> pretrained/

``reference`` resumes: a seed already in the experiment's reference file
(made with the same settings) is skipped, and each seed is written as soon
as it ends, so a long reference can run across sessions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from alexnet.data import DATA_ENV, cache_dir, default_data_dir
from alexnet.step import keep_freed_memory
from alexnet.train_config import check_device

from .registry import EXPERIMENTS, preset
from .job import read_json, worker, write_json_atomic
from .reference import PRETRAINED, load_reference
from .claims import describe, measure
from .runs import ExperimentResult, summarize



def _lr_overrides(items, lrs: dict) -> dict:
    lrs = dict(lrs)
    for item in items or ():  # "relu=0.01,0.02"
        name, _, values = item.partition("=")
        try:
            lrs[name] = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise SystemExit(f"--lr wants ACTIVATION=LR[,LR...], e.g. relu=0.01,0.02; got {item!r}")
    return lrs


def _scales(text: str | None) -> tuple[float, ...] | None:
    """``--input-scales 0.1,0.3,1``: the scales as floats (None: not given)."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SystemExit(f"--input-scales wants numbers, e.g. 0.1,0.3,1; got {text!r}")


def _config(args, experiment: str):
    cfg = preset(experiment, args.preset)
    changes = {k: v for k, v in (("epochs", args.epochs), ("subset", args.subset),
                                 ("init", args.init), ("init_std", args.init_std),
                                 ("inputs", args.inputs), ("input_scale", args.input_scale),
                                 ("input_scales", _scales(args.input_scales)))
               if v is not None}
    cfg = replace(cfg, lrs=_lr_overrides(args.lr, cfg.lrs), **changes)
    try:
        return cfg.validate()
    except ValueError as e:
        raise SystemExit(f"error: {e}")


def _seeds(items) -> list[int]:
    """``--seeds 0,1,2`` or ``--seeds 0 1 2``: the seeds in order, each once."""
    text = ",".join([items] if isinstance(items, str) else items)
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--seeds wants integers, e.g. 0,1,2 or 0 1 2; got {text!r}")
    return list(dict.fromkeys(seeds))


def _load(data_dir: str, experiment: str, skip_bad: bool = False, device: str = "cpu"):
    """CIFAR-10's training (and, if the experiment tests, test) set, on ``device``: the
    experiments train where their images are."""
    from alexnet.data import TensorDataset, load_cifar10

    try:
        train = load_cifar10(data_dir, train=True, skip_bad=skip_bad)
        test = (load_cifar10(data_dir, train=False, skip_bad=skip_bad) if EXPERIMENTS[experiment].needs_test
                else None)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    return tuple(None if d is None else TensorDataset(d.images.to(device), d.labels.to(device), d.classes)
                 for d in (train, test))


def partial_file(experiment: str, cfg) -> Path:
    """Where a seed of a resumable experiment keeps its state until it ends: in the cache
    folder, named by its settings, so the same command run again goes on from there."""
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "experiments" / f"{experiment}-seed{cfg.seed}-{digest}.pt"


def run_seeds(experiment: str, cfg, seeds, train, test, position: int = 0, after_each=None, extra=None):
    """Run one experiment per seed with a tqdm bar each; returns the results.

    ``after_each(results_so_far)`` runs after every seed (the CLI saves there,
    so a long multi-seed run that is cut short keeps the seeds it finished).
    ``extra``: {seed: more keyword arguments for that seed's run}, e.g. the run on a
    smaller lr grid it grows (``grown_from``, ``Experiment.grows``)."""
    from tqdm import tqdm

    results = []
    # Where nets stop at the target, the progress counts every epoch up to the cap, so the
    # time left is a bound (a grid may stop long before).
    left = "at most {remaining} left" if cfg.stop_at_target else "{remaining} left"
    for seed in seeds:
        bar = tqdm(total=1000, desc=f"{experiment} seed {seed}", position=position,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}, " + left + " {postfix}")

        def progress(p, bar=bar):
            if not bar.n:  # a resumed seed starts part-way: time left from the rate since then
                bar.initial = int(1000 * p["fraction"])
            bar.n = int(1000 * p["fraction"])
            bar.set_postfix_str(f"{p['net']} lr={p['lr']:g} epoch {p['epoch']:.2f} "
                                f"err {p['train_error']:.3f}")

        c = replace(cfg, seed=seed)
        e = EXPERIMENTS[experiment]
        more = (extra or {}).get(seed, {})
        r = (e.run(c, train, test, progress, checkpoint=partial_file(experiment, c), **more) if e.resumable
             else e.run(c, train, test, progress, **more))
        bar.n = 1000
        bar.close()
        results.append(r)
        _print_result(r)
        if after_each:
            after_each(results)
    return results


def _names(items) -> list[str]:
    return [n for n in ",".join(items).split(",") if n.strip()]  # "a b" or "a,b"


def _print_result(r) -> None:
    for name, curve in r.curves.items():
        reached = r.epochs_to_target.get(name)
        line = f"  {name:7s} lr {curve.lr:<6g} " + (
            f"{r.config['target_error']:.0%} training error at epoch {reached:.2f}" if reached
            else f"did not reach {r.config['target_error']:.0%} in {r.config['epochs']:g} epochs")
        if name in r.test_error:
            line += f"; test error {r.test_error[name]:.4f}"
        print(line + (" (diverged)" if curve.diverged else ""))
    if r.ratio:
        print(f"  ratio tanh/relu epochs: {r.ratio:.2f} (paper: 6x)   [{r.seconds:.0f} s]")
    elif r.ratio_lower_bound:
        print(f"  ratio tanh/relu epochs: > {r.ratio_lower_bound:.2f} (tanh never got there)")


def _document(experiment, cfg, results, wall: float, earlier: dict | None = None, ran=(), device="cpu") -> dict:
    """The reference/--out document; ``earlier``: the file this run resumes (its seeds are in
    ``results``), whose wall time adds to this one's and whose sessions are kept; ``ran``:
    the seeds this session ran (or grew)."""
    machine = {"platform": platform.platform(), "processor": platform.processor(),
               "cpus": os.cpu_count(), "threads": _threads(), "device": _device_name(device)}
    command = "python -m analysis.experiments " + shlex.join(sys.argv[1:])
    before = (earlier or {}).get("sessions") or ([{k: earlier[k] for k in ("machine", "wall_seconds", "command",
                                                                            "seeds") if k in earlier}]
                                                 if earlier else [])
    sessions = before + [{"machine": machine, "wall_seconds": round(wall, 1), "command": command,
                          "seeds": list(ran)}]
    return {"experiment": experiment, "config": cfg.to_dict(), "seeds": [r.config["seed"] for r in results],
            "summary": summarize(results), "runs": [r.to_dict() for r in results],
            "machine": machine, "wall_seconds": round(sum(x.get("wall_seconds", 0.0) for x in sessions), 1),
            "command": command, "sessions": sessions}


def _earlier_runs(path, experiment: str, cfg) -> tuple[dict | None, list, dict]:
    """What the results file at ``path`` holds for a run of ``cfg``: (the file, or None if
    none of its runs is kept; its runs of exactly ``cfg``, seed aside, kept as they are;
    {seed: run} of its runs on a smaller lr grid, to grow, where the experiment can).
    Runs of other settings are dropped (a file saved before a config field existed reads
    with its default)."""
    other = f"{path} holds runs of other settings (or cannot be read): "
    try:
        doc = read_json(path) if path else None
        if not doc:
            return None, [], {}
        runs = [ExperimentResult.from_dict(r) for r in doc["runs"]] if doc.get("experiment") == experiment else []
        done = [r for r in runs if cfg.ran(r.config)]
    except (ValueError, TypeError, KeyError, AttributeError):
        print(other + "starting it over")
        return None, [], {}
    grows = EXPERIMENTS[experiment].grows
    grow = {r.config["seed"]: r for r in runs if grows and not cfg.ran(r.config) and cfg.grows(r.config)}
    if len(done) + len(grow) < len(runs) or not runs:
        print(other + ("starting it over" if not done and not grow else "those are dropped"))
    return (doc if done or grow else None), done, grow


def _lent(out, experiment: str, seeds) -> dict:
    """{seed: runs} of the reference beside ``out`` of the experiment ``experiment`` borrows
    from (``Experiment.borrows``), which its run takes where they are its own runs."""
    lender = EXPERIMENTS[experiment].borrows
    if not lender or not out:
        return {}
    try:
        runs = load_reference(lender, Path(out).parent)["runs"]
    except (FileNotFoundError, ValueError):  # none there, or one we cannot read: train those runs
        return {}
    return {s: [r for r in runs if r.config.get("seed") == s] for s in seeds
            if any(r.config.get("seed") == s for r in runs)}


def _device_name(device: str) -> str:
    """``device`` as a reference records it: a GPU by its name."""
    import torch

    d = torch.device(device)
    return f"{device} ({torch.cuda.get_device_name(d)})" if d.type == "cuda" else device


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m analysis.experiments",
                                description="The AlexNet (AK) and Zeiler-Fergus (ZF) claims rerun on "
                                            "CIFAR-10, one sub-command per experiment")
    sub = p.add_subparsers(dest="command", required=True)
    for name in (*EXPERIMENTS, "reference"):
        s = sub.add_parser(name, help=EXPERIMENTS[name].label if name in EXPERIMENTS else
                           "the full protocol over several seeds, written to pretrained/")
        s.add_argument("--preset", default="full" if name == "reference" else "quick",
                       choices=("quick", "full"))
        s.add_argument("--seeds", nargs="+", default=["0,1,2" if name == "reference" else "0"],
                       help="e.g. 0,1,2 or 0 1 2 (a reference resumes: seeds already in its file are kept)")
        s.add_argument("--data-dir", default=str(default_data_dir()),
                       help=f"CIFAR-10's train/ and test/ class folders (default: ${DATA_ENV} or %(default)s)")
        s.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
        s.add_argument("--device", default="cpu", help="where the nets train: cpu (default), cuda, cuda:1, ...")
        s.add_argument("--epochs", type=float, help="override the preset's epoch cap")
        s.add_argument("--subset", type=int, help="override the number of training images (0: all)")
        s.add_argument("--init", help="paper-gaussian, default or kaiming (the AlexNet ablations)")
        s.add_argument("--init-std", type=float, help="std of the paper-gaussian weights")
        s.add_argument("--inputs", help="centred-raw (AK 2: 0-255 minus the mean image) or standardised")
        s.add_argument("--input-scale", type=float, help="the inputs times this (1: the paper's)")
        s.add_argument("--input-scales", metavar="X[,X]",
                       help="the input scales relu-tanh-saturation compares, e.g. 0.1,0.3,1")
        s.add_argument("--lr", action="append", metavar="ACT=LR[,LR]", help="lr candidates")
        s.add_argument("--skip-bad-images", action="store_true",
                       help="leave out (and count) images that cannot be decoded instead of stopping")
        if name == "reference":
            s.add_argument("--experiments", nargs="+", default=[",".join(EXPERIMENTS)],
                           help="which, e.g. pooling dropout (default: all)")
            s.add_argument("--out-dir", default=str(PRETRAINED))
        else:
            s.add_argument("--out", help="write the results (and their summary) here as JSON")
    w = sub.add_parser("worker", help="internal: run the job described in JOB_DIR/job.json")
    w.add_argument("job_dir")
    args = p.parse_args(argv)
    if args.command == "worker":
        sys.exit(worker(args.job_dir))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    keep_freed_memory()
    check_device(args.device)
    experiments = (_names(args.experiments) if args.command == "reference" else [args.command])
    for experiment in experiments:
        if experiment not in EXPERIMENTS:
            raise SystemExit(f"unknown experiment {experiment!r}; choose from {', '.join(EXPERIMENTS)}")
        cfg, seeds = _config(args, experiment), _seeds(args.seeds)
        if not seeds:
            raise SystemExit("--seeds is empty; give e.g. 0 or 0,1,2")
        out = (Path(args.out_dir) / EXPERIMENTS[experiment].reference_file if args.command == "reference"
               else args.out and Path(args.out))
        earlier, done, grow = _earlier_runs(out, experiment, cfg)
        todo = [s for s in seeds if s not in {r.config["seed"] for r in done}]
        if earlier and set(seeds) - set(todo):
            print(f"{experiment}: seed(s) {', '.join(str(s) for s in seeds if s not in todo)} already in {out}; "
                  f"running {', '.join(map(str, todo)) or 'none'}")
        train, test = _load(args.data_dir, experiment, args.skip_bad_images, args.device) if todo else (None, None)
        t0 = time.time()

        def save(results):  # after every seed: a cut-short run keeps what it finished
            if out:
                ran = {r.config["seed"] for r in results}
                kept = done + [r for seed, r in grow.items() if seed not in ran]  # every seed the file had, too
                runs = sorted(kept + results, key=lambda r: r.config["seed"])
                write_json_atomic(_document(experiment, cfg, runs, time.time() - t0, earlier, sorted(ran),
                                            args.device), out)

        extra = {seed: {"grown_from": r} for seed, r in grow.items() if seed in todo}
        if extra:
            print(f"{out}: growing the lr grid of seed(s) {', '.join(map(str, extra))} to {cfg.to_dict()['lrs']} "
                  "(only the new lrs train)")
        for seed, runs in _lent(out, experiment, todo).items():
            extra.setdefault(seed, {})["borrowed"] = runs
        waiting = [r for seed, r in grow.items() if seed not in todo]  # kept with their smaller grid
        results = sorted(done + waiting + run_seeds(experiment, cfg, todo, train, test, after_each=save, extra=extra),
                         key=lambda r: r.config["seed"])
        for claim in EXPERIMENTS[experiment].claims:  # each claim's mean, 95% interval and verdict (the file's runs)
            print(f"{experiment}: {claim.source}: {describe(claim, measure(claim, results))}")
        if out:
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
