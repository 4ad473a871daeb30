"""Forward+backward time of the fast LRN against torch.nn.LocalResponseNorm.

    nice -n 10 .venv/bin/python -m bench.bench_lrn [--threads 1] [--reps 11]
    nice -n 10 .venv/bin/python -m bench.bench_lrn --layout channels-last --precision bf16

The second is how ``alexnet.train --channels-last --precision bf16`` runs it.

For the LRN inputs of this net (AK 3.3: after conv1 and conv2) it prints the
median time of one forward + backward of both implementations, measured in
the same run and interleaved so that a busy machine slows both alike; their
ratio; a 3x3 convolution of the same width (the yardstick of "LRN costs as
much as a conv layer"); and a memory-bandwidth floor: an LRN must read x and
write y, then read x and the gradient and write dx, five passes over the
tensor, timed at the machine's measured copy bandwidth ("5 passes"), plus
the page faults of first touching the two fresh outputs ("touch").
With ``--precision bf16`` torch's LRN, which has no bfloat16 CPU kernel,
runs on float32 copies of the same tensors.
Both wall-clock and CPU-time medians are shown: on a shared machine the CPU
time is the steadier of the two.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from alexnet.lrn import LocalResponseNorm

# (name, shape, towers): LRN inputs of the CIFAR variant at batch 128, the
# ImageNet variant at batch 32, and the single-tower example.
SHAPES = [
    ("cifar lrn1", (128, 64, 32, 32), 2),
    ("cifar lrn2", (128, 128, 16, 16), 2),
    ("shipped lrn1", (128, 96, 32, 32), 2),  # the shipped CIFAR-10 model's widths
    ("shipped lrn2", (128, 192, 16, 16), 2),
    ("imagenet lrn1", (32, 96, 55, 55), 2),
    ("imagenet lrn2", (32, 256, 27, 27), 2),
    ("issue", (128, 48, 32, 32), 1),
]


def _step(module: nn.Module, x: torch.Tensor, g: torch.Tensor) -> tuple[float, float]:
    """(wall, cpu) seconds of one forward + backward."""
    x = x.detach().requires_grad_()
    wall, cpu = time.perf_counter(), time.process_time()
    module(x).backward(g)
    return time.perf_counter() - wall, time.process_time() - cpu


def _medians(samples) -> tuple[float, float]:
    return tuple(1e3 * statistics.median(s) for s in zip(*samples))  # ms


def _timed(fn, reps: int) -> tuple[float, float]:
    """Median (wall, cpu) milliseconds of fn()."""
    samples = []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
    return _medians(samples)


def _floors(x: torch.Tensor, reps: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(5 passes at copy bandwidth, first touch of 2 fresh tensors), each (wall, cpu) ms.

    A copy reads and writes the tensor (2 passes), so 5 passes = 2.5 copies.
    The output and the gradient must be fresh tensors; on the CPU their first
    touch page-faults, which is a floor of its own.
    """
    out = torch.empty_like(x).copy_(x)
    copy = _timed(lambda: out.copy_(x), reps)
    fresh = _timed(lambda: torch.empty_like(x).fill_(0.0), reps)
    fill = _timed(lambda: out.fill_(0.0), reps)
    return tuple(2.5 * c for c in copy), tuple(2 * max(a - b, 0.0) for a, b in zip(fresh, fill))


def run(reps: int, conv_reps: int, channels_last: bool = False, dtype=torch.float32) -> None:
    layout = torch.channels_last if channels_last else torch.contiguous_format
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), median of {reps} "
          f"(LRN) / {conv_reps} (conv) forward+backward steps, {dtype}, "
          f"{'channels-last' if channels_last else 'NCHW'}, times in ms\n")
    print(f"{'input':<14} {'shape':<18} {'clock':<5} {'torch':>8} {'fast':>7} {'ratio':>6} "
          f"{'conv3x3':>8} {'torch/conv':>10} {'fast/conv':>9} {'5 passes':>8} {'touch':>6}")
    for name, shape, towers in SHAPES:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=gen).relu_()  # LRN follows a ReLU
        g = torch.randn(shape, generator=gen)
        x, g = (t.to(dtype).contiguous(memory_format=layout) for t in (x, g))
        ref = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        fast = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, groups=towers)
        # Same numbers (tests/test_lrn.py checks every case); with two towers the
        # window stays in its tower, so the reference runs on each half. Timed,
        # the reference runs once on the whole tensor: the same work.
        # torch's LRN has no bfloat16 CPU kernel: it runs on float32 copies.
        xr, gr = x.float(), g.float()
        want = torch.cat([ref(h) for h in xr.chunk(towers, dim=1)], dim=1)
        tol = 1e-5 if dtype == torch.float32 else 1e-2  # bfloat16 keeps 8 bits
        torch.testing.assert_close(fast(x).float(), want, atol=tol, rtol=tol)
        _step(ref, xr, gr), _step(fast, x, g)  # warm-up
        r, f = [], []
        for _ in range(reps):  # interleaved: load changes hit both
            r.append(_step(ref, xr, gr))
            f.append(_step(fast, x, g))
        # Dense conv of the same width, padding 1: the layer LRN is compared to.
        conv = nn.Conv2d(shape[1], shape[1], 3, padding=1).to(dtype)
        _step(conv, x, g)
        c = _medians([_step(conv, x, g) for _ in range(conv_reps)])
        passes, touch = _floors(x, reps)
        for i, clock in enumerate(("wall", "cpu")):
            rt, ft, ct = _medians(r)[i], _medians(f)[i], c[i]
            print(f"{name if i == 0 else '':<14} {str(shape) if i == 0 else '':<18} {clock:<5} "
                  f"{rt:8.1f} {ft:7.1f} {rt / ft:6.1f} {ct:8.1f} {rt / ct:10.2f} {ft / ct:9.2f} "
                  f"{passes[i]:8.1f} {touch[i]:6.1f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--reps", type=int, default=11, help="LRN steps per implementation")
    p.add_argument("--conv-reps", type=int, default=3, help="3x3 conv steps (slow: ~GFLOPs each)")
    p.add_argument("--layout", choices=("nchw", "channels-last"), default="nchw")
    p.add_argument("--precision", choices=("float32", "bf16"), default="float32",
                   help="bf16: bfloat16 tensors, as LRN sees them under alexnet.train's autocast")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    run(args.reps, args.conv_reps, args.layout == "channels-last",
        torch.bfloat16 if args.precision == "bf16" else torch.float32)


if __name__ == "__main__":
    main()
