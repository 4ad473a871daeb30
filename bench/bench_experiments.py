"""Wall time of the convergence experiments on this machine.

    python -m bench.bench_experiments --data-dir ~/.cache/alexnet-data/cifar10          # quick preset
    python -m bench.bench_experiments --full --threads 2                               # + one full seed

The issue's targets: the quick preset within 90 s on two cores (issue 14), the
full ReLU-vs-tanh protocol (one seed) within 20 minutes. The peer, measured in
the same run: the machine's matmul rate, as the time one SGD step of the
four-layer net would take if its convolutions ran at that rate.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from alexnet.data import default_data_dir, load_cifar10
from analysis.experiments import FourLayerCNN, preset, run_relu_tanh
from analysis.experiments.relu_tanh import ratio_table
from bench.bench_train import forward_macs, matmul_flops


def step_vs_matmul(cfg, activation: str = "relu", steps: int = 15) -> None:
    """Median SGD step of the experiment's net (as runs.py trains it) against the matmul bound."""
    net = FourLayerCNN(activation, cfg.widths).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(cfg.batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (cfg.batch_size,))
    times = []
    for _ in range(steps + 3):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    step = statistics.median(times[3:])
    flops = 3 * 2 * forward_macs(net, 32) * cfg.batch_size  # forward, and twice that backward
    bound = flops / matmul_flops(torch.device("cpu"))
    print(f"{activation} step (batch {cfg.batch_size}): {1e3 * step:.0f} ms median; at the matmul "
          f"rate {1e3 * bound:.0f} ms; ratio {bound / step:.2f} of the matmul limit; "
          f"an epoch of 50,000 images ~{step * 50_000 / cfg.batch_size:.0f} s", flush=True)


def timed(name: str, cfg, data) -> float:
    t0 = time.perf_counter()
    r = run_relu_tanh(cfg, data)
    wall = time.perf_counter() - t0
    reached = ", ".join(f"{k} {v:.2f} ep" if v else f"{k} not reached"
                        for k, v in r.epochs_to_target.items())
    ratio = f"{r.ratio:.2f}" if r.ratio else (f"> {r.ratio_lower_bound:.2f}" if r.ratio_lower_bound else "n/a")
    curves = ([e["curve"]["epochs"] for lrs in r.grid.values() for e in lrs.values()] if r.grid
              else [c.epochs for c in r.curves.values()])  # a grid run trains every lr
    steps = sum(len(c) * cfg.record_every for c in curves)
    print(f"{name:22s} {wall:7.1f} s  ({1e3 * wall / max(1, steps):.0f} ms/step over ~{steps} "
          f"recorded steps; 25%: {reached}; ratio {ratio}; lr {dict((k, c.lr) for k, c in r.curves.items())})",
          flush=True)
    for row in ratio_table(r):  # the whole grid: does the outcome hinge on the lr pick?
        v = row["ratio"]
        print(f"    ReLU lr {row['relu_lr']:<7g} tanh lr {row['tanh_lr']:<7g} ratio "
              + ("n/a (ReLU missed)" if v is None else (">" if row["at_least"] else "") + f"{v:.2f}"), flush=True)
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(default_data_dir()))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="also time the full protocol (one seed)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_cifar10(args.data_dir, train=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    step_vs_matmul(preset("relu-tanh", "full"))
    timed("relu-tanh quick", preset("relu-tanh", "quick"), data)
    if args.full:
        from dataclasses import replace

        timed("relu-tanh full (1 seed)", replace(preset("relu-tanh", "full"), seed=args.seed), data)


if __name__ == "__main__":
    main()
