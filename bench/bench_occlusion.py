"""Occlusion maps (ZF Fig. 7): ours against captum's ``Occlusion``, same settings.

    nice -n 10 .venv/bin/python -m bench.bench_occlusion --repeats 5

Same model (random init, eval mode), image, square, stride and baseline (0,
the dataset mean). captum computes one map (the target class's probability
drop) and runs the whole net per position; ours returns all three ZF maps
from one sweep. captum is timed with its default ``perturbations_per_eval=1``
and with batches as large as ours. Times are medians of wall-clock seconds;
"cpu" is the process's CPU seconds, which on a busy machine tells how much
of the wall time was spent waiting for a core.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import TORCHVISION_CONFIG
from analysis.occlusion import occlusion

CASES = {
    "cifar": (AlexNetConfig(variant="cifar", num_classes=10, init="kaiming"), 32, 8, 2),
    "torchvision": (TORCHVISION_CONFIG.replace(init="kaiming"), 224, 32, 16),
}


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` runs, after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_occlusion", description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args(argv)
    from captum.attr import Occlusion

    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, median of {a.repeats}")
    for case in a.cases:
        config, side, size, stride = CASES[case]
        torch.manual_seed(0)
        model = AlexNet(config).eval()
        x = torch.randn(1, 3, side, side)
        target = int(model(x).argmax())
        captum = Occlusion(lambda inp: model(inp).softmax(1))

        def run_captum(per_eval):
            with torch.inference_mode():
                captum.attribute(x, sliding_window_shapes=(3, size, size), strides=(3, stride, stride),
                                 baselines=0.0, target=target, perturbations_per_eval=per_eval)

        r = occlusion(model, x, target=target, size=size, stride=stride)
        grid = "x".join(map(str, r.grid))
        print(f"\n{case}: {side}x{side} input, square {size} stride {stride} -> {grid} positions")
        runs = {
            "ours (3 maps, reuse)": lambda: occlusion(model, x, target=target, size=size, stride=stride,
                                                      batch_size=a.batch_size),
            "ours (3 maps, full net per copy)": lambda: occlusion(
                model, x, target=target, size=size, stride=stride, batch_size=a.batch_size, reuse=False),
            "captum Occlusion (1 map, per_eval=1)": lambda: run_captum(1),
            f"captum Occlusion (1 map, per_eval={a.batch_size})": lambda: run_captum(a.batch_size),
        }
        times = {}
        for name, fn in runs.items():
            times[name] = timed(fn, a.repeats)
            print(f"  {name:40s} wall {times[name][0]:7.3f} s   cpu {times[name][1]:7.3f} s")
        ours = times["ours (3 maps, reuse)"]
        for name, t in list(times.items())[1:]:
            print(f"  {name:40s} / ours: wall x{t[0] / ours[0]:.1f}, cpu x{t[1] / ours[1]:.1f}")


if __name__ == "__main__":
    main()
