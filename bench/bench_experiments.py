"""Wall time of the experiments' presets on this machine, one line per experiment.

    python -m bench.bench_experiments                                    # every quick preset
    python -m bench.bench_experiments --experiments pooling dropout      # some of them
    python -m bench.bench_experiments --experiments towers --full        # + one full seed each

The goal (issue 14): each quick preset within 90 s on two cores; one seed of
a full preset within 15 minutes. The peer, measured in the same run: the
machine's matmul rate, as the time one SGD step of each experiment net would
take if its convolutions ran at that rate (a loaded machine slows both).
Each line also gives the run's CPU seconds, steadier than wall time when
other processes compete.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from alexnet.data import default_data_dir, load_cifar10
from alexnet.step import keep_freed_memory
from analysis.experiments import FourLayerCNN, preset
from analysis.experiments.arms import ALEXNET_BASE, alexnet_arm
from analysis.experiments.registry import EXPERIMENTS
from analysis.experiments.relu_tanh import ratio_table
from bench.bench_train import forward_macs, matmul_flops

QUICK_GOAL_S = 90.0


def step_vs_matmul(name: str, net, batch_size: int = 128, steps: int = 15) -> None:
    """Median SGD step of ``net`` (channels-last, as runs.py trains it) against the matmul bound."""
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch_size,))
    times = []
    for _ in range(steps + 3):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    step = statistics.median(times[3:])
    flops = 3 * 2 * forward_macs(net, 32) * batch_size  # forward, and twice that backward
    bound = flops / matmul_flops(torch.device("cpu"))
    print(f"{name} step (batch {batch_size}): {1e3 * step:.0f} ms median; at the matmul rate "
          f"{1e3 * bound:.0f} ms; ratio {bound / step:.2f} of the matmul limit; "
          f"1,000 images ~{step * 1000 / batch_size:.1f} s", flush=True)


def outcome(r) -> str:
    """The run's figures in a few words: the ratio, or each arm's final test error."""
    if r.experiment.startswith("relu-tanh"):
        reached = ", ".join(f"{k} {v:.2f} ep" if v else f"{k} not reached" for k, v in r.epochs_to_target.items())
        def ratio(e):
            return f"{e['ratio']:.2f}" if e["ratio"] else (f"> {e['ratio_lower_bound']:.2f}"
                                                            if e["ratio_lower_bound"] else "n/a")

        scales = r.grid.get("input_scale", {})  # relu-tanh-saturation: a ratio per input scale
        return f"25%: {reached}; " + (", ".join(f"ratio x{float(x):g} {ratio(e)}" for x, e in scales.items())
                                      if scales else
                                      f"ratio {ratio({'ratio': r.ratio, 'ratio_lower_bound': r.ratio_lower_bound})}")
    return "test error " + ", ".join(f"{k} {v:.3f}" for k, v in r.test_error.items() if v is not None)


def trained(grid: dict) -> list:
    """Each lr's recorded epochs in a run's grid: relu-tanh's ({net: {lr: entry}}), or each
    input scale's of relu-tanh-saturation ({"input_scale": {scale: {"grid": ...}}})."""
    found = []
    for v in grid.values():
        if isinstance(v, dict):
            found += [v["curve"]["epochs"]] if "curve" in v else trained(v)
    return found


def timed(name: str, which: str, cfg, train, test) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    r = EXPERIMENTS[name].run(cfg, train, test)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    grid = trained(r.grid)  # a grid run trains every lr
    curves = grid or [c.epochs for c in r.curves.values()]
    images = sum(c[-1] for c in curves if c) * min(cfg.subset or len(train), len(train))
    goal = f" (goal {QUICK_GOAL_S:.0f} s)" if which == "quick" else ""
    print(f"{name:14s} {which:5s} {wall:7.1f} s{goal}, CPU {cpu:.0f} s  {len(curves)} nets, up to {cfg.epochs:g} epochs, "
          f"~{images:,.0f} training images, {1e3 * wall / max(1, images):.2f} ms each; {outcome(r)}", flush=True)
    if r.experiment == "relu-tanh":
        for row in ratio_table(r):  # the whole lr grid: does the outcome hinge on the lr pick?
            v = row["ratio"]
            print(f"    ReLU lr {row['relu_lr']:<7g} tanh lr {row['tanh_lr']:<7g} ratio "
                  + ("n/a (ReLU missed)" if v is None else (">" if row["at_least"] else "") + f"{v:.2f}"),
                  flush=True)
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(default_data_dir()))
    p.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="also time one seed of each full preset")
    p.add_argument("--plain-malloc", action="store_true",
                   help="leave glibc's malloc as it is (the peer of alexnet.step.keep_freed_memory)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if not args.plain_malloc:
        keep_freed_memory()  # as the experiments' command and the app's worker do
    train = load_cifar10(args.data_dir, train=True)
    test = load_cifar10(args.data_dir, train=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    # Both peers every time: the four-layer CNN's step took about 100 ms on an idle two-core
    # machine (an epoch of 50,000 images in about 40 s when the experiments were set up), so its
    # time here says how loaded this machine is.
    step_vs_matmul("four-layer CNN", FourLayerCNN("relu", preset("lrn", "full").widths))
    step_vs_matmul("ablations' AlexNet", alexnet_arm("net", ALEXNET_BASE).build())
    for name in args.experiments:
        timed(name, "quick", replace(preset(name, "quick"), seed=args.seed), train, test)
    if args.full:
        for name in args.experiments:
            timed(name, "full", replace(preset(name, "full"), seed=args.seed), train, test)


if __name__ == "__main__":
    main()
