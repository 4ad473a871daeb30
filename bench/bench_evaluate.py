"""10-crop evaluation of the shipped CIFAR-10 model: chunks of ``alexnet.evaluate.CHUNK``
images per forward pass against the whole batch at once (how it ran before).

    nice -n 10 .venv/bin/python -m bench.bench_evaluate [--threads 2] [--images 500] [--reps 5]

One batch of ``--images`` test-sized images is cut into its ten crops (AK 4.1)
and evaluated both ways, interleaved so that a busy machine slows both alike;
it prints the median wall and CPU seconds, milliseconds per crop, and the
ratio. The numbers are the same either way (tests/test_evaluate.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from alexnet.crops import cifar_ten_crop
from alexnet.evaluate import CHUNK, evaluate
from alexnet.weights import load_cifar10


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=500, help="one evaluation batch (alexnet.evaluate's is 500)")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_cifar10().model
    g = torch.Generator().manual_seed(0)
    batch = [(torch.randn(a.images, 3, 32, 32, generator=g), torch.randint(0, 10, (a.images,), generator=g))]
    crops = a.images * 10
    ways = {f"chunks of {CHUNK}": CHUNK, f"all {crops} crops at once": crops}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for rep in range(a.reps + 1):  # the first round warms up
        for name, chunk in ways.items():
            w, c = time.perf_counter(), time.process_time()
            with torch.no_grad():
                evaluate(model, batch, ten_crop=cifar_ten_crop, chunk=chunk)
            if rep:
                times[name].append((time.perf_counter() - w, time.process_time() - c))
    print(f"10-crop evaluation of {a.images} images ({crops} crops), shipped CIFAR-10 model, "
          f"{a.threads} thread(s), median of {a.reps}:")
    med = {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
           for k, v in times.items()}
    for name, (wall, cpu) in med.items():
        print(f"  {name:>24}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {1000 * wall / crops:5.2f} ms a crop")
    (fast, _), (slow, _) = med.values()
    print(f"  chunked is {slow / fast:.2f}x as fast (wall)")


if __name__ == "__main__":
    main()
