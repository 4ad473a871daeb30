"""Training throughput against the machine's matmul limit, and data loading alone.

    nice -n 10 python -m bench.bench_train --steps 30
    python -m bench.bench_train --device cuda         # the 224 model on a GPU

For each model: images/second of a full SGD step (``alexnet.step.sgd_step``:
forward, backward, update) on a fixed batch (median step time), the FLOPs that
step needs (conv/linear multiply-adds x2 forward, x3 for forward+backward), and
that rate as a fraction of a large ``torch.mm`` measured in the same run. The
shipped model's widths are timed in float32 and under ``--precision bf16``
(bfloat16 autocast), each in NCHW and channels-last memory, steps of the four
interleaved, with their ratios to float32 NCHW. Data loading is
timed on its own (``BatchIterator`` over the cached CIFAR-10 training set),
so it is clear which of the two limits training.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
from torch import nn

from alexnet.data import default_data_dir
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.step import sgd_step
from alexnet.weights import cifar10_manifest


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_macs(model: nn.Module, size: int) -> int:
    """Multiply-adds of one image's forward pass through every Conv2d and Linear."""
    total, handles = [0], []

    def count(m, inp, out):
        if isinstance(m, nn.Conv2d):  # each output element: in/groups * kh * kw MACs
            total[0] += out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        else:
            total[0] += m.in_features * m.out_features
    try:
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                handles.append(m.register_forward_hook(count))
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return total[0]


def matmul_flops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n float32 matmul: the matmul-bound limit of this device."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times)


def train_rates(config: AlexNetConfig, device: torch.device, batch: int, steps: int,
                ways=(("fp32", "nchw"),)) -> dict:
    """Median SGD step time on a fixed random batch, as images/s and FLOP/s, for each
    (precision, memory layout) of ``ways``: the same weights, their steps interleaved,
    so that a load elsewhere falls on all alike."""
    torch.manual_seed(0)
    first = AlexNet(config).to(device).train()
    macs = forward_macs(first, config.input_size)
    x = torch.randn(batch, 3, config.input_size, config.input_size, device=device)
    y = torch.randint(0, config.num_classes, (batch,), device=device)
    runs = {}
    for precision, layout in ways:
        model = copy.deepcopy(first)
        form = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        runs[precision, layout] = (model.to(memory_format=form), x.contiguous(memory_format=form),
                                   torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4))
    times = {w: [] for w in ways}
    for i in range(steps + 3):  # 3 warm-up steps
        for (precision, layout), (model, xs, opt) in runs.items():
            t = time.perf_counter()
            sgd_step(model, opt, xs, y, bf16=precision == "bf16")
            _sync(device)
            if i >= 3:
                times[precision, layout].append(time.perf_counter() - t)
    flops_per_image = 2 * macs * 3  # forward = 2 FLOPs per MAC; backward ~ twice the forward
    out = {}
    for (precision, layout), ts in times.items():
        step = statistics.median(ts)
        out[f"{precision} {layout}"] = {
            "variant": config.variant, "widths": ",".join(map(str, config.widths)) or "default",
            "batch": batch, "median_step_s": round(step, 4), "images_per_s": round(batch / step, 1),
            "gflops_per_image": round(flops_per_image / 1e9, 3),
            "achieved_gflops": round(flops_per_image * batch / step / 1e9, 2)}
    return out


def loading_rate(batch: int, batches: int, data_dir: str | None) -> dict:
    """Images/s of BatchIterator alone (crops, flips, normalisation), CIFAR-10 train set."""
    from alexnet.data import BatchIterator, load_cifar10

    data = load_cifar10(data_dir, train=True)
    it = BatchIterator(data, batch, train=True, seed=0)
    t, n = time.perf_counter(), 0
    for i, (x, _) in enumerate(it.epoch(1)):
        n += len(x)
        if i + 1 == batches:
            break
    return {"images_per_s": round(n / (time.perf_counter() - t), 1), "images": n}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_train", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's choice")
    p.add_argument("--data-dir", default=str(default_data_dir()),
                   help="CIFAR-10 for the loading benchmark (train/<class>/ images or the archive)")
    p.add_argument("--load-batches", type=int, default=50)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    results = {"threads": torch.get_num_threads()}
    cpu = torch.device("cpu")
    peak = matmul_flops(cpu)
    results["cpu_matmul_gflops"] = round(peak / 1e9, 2)
    r = train_rates(AlexNetConfig(variant="cifar", num_classes=10), cpu, a.batch_size, a.steps)["fp32 nchw"]
    r["fraction_of_matmul_limit"] = round(r["achieved_gflops"] * 1e9 / peak, 3)
    results["cpu_train_cifar"] = r
    ways = [(p, m) for p in ("fp32", "bf16") for m in ("nchw", "channels_last")]
    widths = tuple(int(w) for w in cifar10_manifest()["train_config"]["widths"].split(","))
    shipped = train_rates(AlexNetConfig(variant="cifar", num_classes=10, widths=widths), cpu,
                          a.batch_size, a.steps, ways)
    results["cpu_train_shipped_widths"] = shipped
    base = shipped["fp32 nchw"]["median_step_s"]
    results["speedup_over_fp32_nchw"] = {k: round(base / v["median_step_s"], 2) for k, v in shipped.items()}
    results["cpu_loading_cifar"] = loading_rate(a.batch_size, a.load_batches, a.data_dir)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        gpeak = matmul_flops(gpu, n=8192)
        results["gpu_matmul_gflops"] = round(gpeak / 1e9, 1)
        for variant in ("cifar", "imagenet"):
            g = train_rates(AlexNetConfig(variant=variant, num_classes=1000 if variant == "imagenet" else 10),
                            gpu, a.batch_size, a.steps)["fp32 nchw"]
            g["fraction_of_matmul_limit"] = round(g["achieved_gflops"] * 1e9 / gpeak, 3)
            results[f"gpu_train_{variant}"] = g
    else:
        results["gpu"] = "skipped: no CUDA GPU on this machine"
    print(json.dumps(results, indent=2))
    train_ips, load_ips = results["cpu_train_cifar"]["images_per_s"], results["cpu_loading_cifar"]["images_per_s"]
    print(f"CPU: training {train_ips} img/s, loading {load_ips} img/s -> "
          f"{'compute' if train_ips < load_ips else 'data loading'} limits training")
    print("shipped widths, a step's speed over float32 NCHW: "
          + ", ".join(f"{k} {v}x" for k, v in results["speedup_over_fp32_nchw"].items()))


if __name__ == "__main__":
    main()
