"""Train AlexNet with the paper's recipe (AK 5), on one device, two, or many.

    python -m alexnet.train --data-dir ~/data/cifar10 --out runs/cifar
    python -m alexnet.train --resume runs/cifar/last.pt          # after a kill
    torchrun --nproc_per_node 2 -m alexnet.train --data-dir ...  # DDP
    python -m alexnet.train --dataset imagenet-folder --variant imagenet \\
        --data-dir ~/data/imagenet --tower-devices cuda:0,cuda:1  # AK 3.2's two GPUs

Defaults are the paper's: SGD, batch 128, momentum 0.9, weight decay 5e-4,
lr 0.01 divided by 10 when the validation error stops improving. Each epoch
appends a line to ``metrics.jsonl`` and rewrites ``last.pt`` atomically;
the data order and dropout masks are functions of (seed, epoch), so a
resumed run repeats exactly what the uninterrupted one would have done.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, remove_stale_temps, save_atomic
from .data import (CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, BatchIterator,
                   load_cifar10, load_image_folder)
from .evaluate import evaluate
from .model import GEOMETRY, AlexNet, AlexNetConfig


@dataclass
class TrainConfig:
    data_dir: str = ""  # CIFAR-10 (train/ and test/ class folders) or torchvision's archive
    download: bool = False  # let torchvision download CIFAR-10 into data_dir
    dataset: str = "cifar10"  # cifar10, folder (small, in memory) or imagenet-folder (streamed)
    out: str = "runs/alexnet"  # folder for last.pt, metrics.jsonl and snapshots/
    variant: str = "cifar"  # cifar (32x32) or imagenet (224x224)
    activation: str = "relu"  # relu or tanh (AK 3.1)
    lrn: bool = True  # local response normalisation after conv1 and conv2 (AK 3.3)
    overlapping_pool: bool = True  # 3x3 stride-2 pools (AK 3.4); off: 2x2 stride 2
    towers: int = 2  # 2 towers, or 1: the paper's one-GPU net (AK 3.2)
    init: str = "paper"  # paper: N(0, 0.01) and unit biases (AK 5); kaiming: He init
    dropout: float = 0.5  # in fc6 and fc7 (AK 4.2)
    epochs: int = 90  # passes over the training set
    batch_size: int = 128  # images per SGD step (per process under DDP)
    lr: float = 0.01  # learning rate (onecycle: its peak)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 weight decay
    schedule: str = "plateau"  # "plateau" (AK 5), "onecycle", or "constant"
    patience: int = 3  # plateau: epochs without improvement before lr /= 10
    seed: int = 0  # initial weights, data order, augmentation and dropout
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...
    tower_devices: str = ""  # e.g. "cuda:0,cuda:1": tower A and B on two devices
    snapshot_epochs: str = "1,2,5,10,20"  # conv weights kept for ZF Fig. 4; the last is added
    limit: int = 0  # use only the first N training images (quick checks)
    resume: str = ""  # a last.pt to continue from
    threads: int = 0  # torch CPU threads; 0 keeps torch's choice
    widths: str = ""  # "conv1,...,conv5,fc6,fc7" kernel counts; empty: the variant's own
    workers: int = 4  # DataLoader processes decoding images (imagenet-folder only)


SCHEDULES = ("plateau", "onecycle", "constant")
DATASETS = ("cifar10", "folder", "imagenet-folder")
# Where a run happens, not what it computes: a resumed run takes these from
# the command line; everything else comes from the checkpoint.
HARDWARE = ("device", "threads", "workers", "resume")


def _field_help() -> dict[str, str]:
    """TrainConfig's trailing comments, so the --help text has one source."""
    import inspect
    import re

    found = re.findall(r"^\s+(\w+): \w+ = .*?#\s*(.+)$", inspect.getsource(TrainConfig), re.M)
    return dict(found)


def _parse_args(argv=None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m alexnet.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    notes = _field_help()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        h = notes.get(f.name, "")
        if f.type == "bool":
            p.add_argument(flag, default=f.default, action=argparse.BooleanOptionalAction, help=h)
        else:
            p.add_argument(flag, default=f.default, type=type(f.default), help=h)
    return TrainConfig(**vars(p.parse_args(argv)))


def _tune_cpu_allocator() -> None:
    """Keep freed activation buffers in the heap instead of unmapping them.

    glibc returns every block over 32 MB to the OS on free, so each step
    page-faults its large activations in again: about 30% of a CIFAR step
    on two cores. Training reuses the same sizes every step, so we keep them.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)  # M_MMAP_MAX = 0: never serve malloc from mmap
        libc.mallopt(-1, 1 << 40)  # M_TRIM_THRESHOLD: never give the heap back
    except OSError:
        pass  # not glibc: nothing to tune


def _check_device(name: str) -> torch.device:
    d = torch.device(name)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device {name!r} was asked for, but this machine has no CUDA GPU "
                         "that torch can use; run with --device cpu")
    if d.type == "cuda" and (d.index or 0) >= torch.cuda.device_count():
        raise SystemExit(f"device {name!r} does not exist: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return d


def _check(cfg: TrainConfig) -> None:
    if cfg.epochs < 1:
        raise SystemExit(f"--epochs must be at least 1, got {cfg.epochs}")
    if cfg.schedule not in SCHEDULES:
        raise SystemExit(f"unknown --schedule {cfg.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if cfg.dataset not in DATASETS:
        raise SystemExit(f"unknown --dataset {cfg.dataset!r}; choose from {', '.join(DATASETS)}")
    if cfg.dataset == "imagenet-folder" and cfg.variant == "cifar":
        raise SystemExit("--dataset imagenet-folder feeds 224x224 crops (AK 4.1): "
                         "use --variant imagenet (or torchvision)")


def _val_dir(root: Path) -> Path:
    return next((root / s for s in ("val", "test") if (root / s).is_dir()), root / "val")


def _data(cfg: TrainConfig, rank: int, world: int):
    """(training batches, a function giving the validation batches, class names)."""
    root = Path(cfg.data_dir).expanduser()
    cifar = cfg.variant == "cifar"
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if cifar else (IMAGENET_MEAN, IMAGENET_STD)
    if cfg.dataset == "imagenet-folder":  # too big for memory: stream it (AK 2, 4.1)
        from .augment import FolderStream, pca_basis, test_transform, train_transform

        train = FolderStream(root / "train", cfg.batch_size, train_transform(*pca_basis(root / "train")),
                             train=True, seed=cfg.seed, rank=rank, world=world,
                             workers=cfg.workers, limit=cfg.limit)
        val = FolderStream(_val_dir(root), cfg.batch_size, test_transform(), train=False,
                           workers=cfg.workers)
        _same_classes(train.classes, val.classes)
        return train, lambda: val.epoch(0), train.classes
    if cfg.dataset == "cifar10":
        train = load_cifar10(cfg.data_dir or None, train=True, download=cfg.download)
        val = load_cifar10(cfg.data_dir or None, train=False, download=cfg.download)
    else:
        side = GEOMETRY[cfg.variant]["input"]
        train, val = load_image_folder(root / "train", side), load_image_folder(_val_dir(root), side)
        _same_classes(train.classes, val.classes)
    if cfg.limit:  # a seeded random subset: folders list their images class by class
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.limit]
        train.images, train.labels = train.images[keep], train.labels[keep]
    batches = BatchIterator(train, cfg.batch_size, train=True, seed=cfg.seed, rank=rank, world=world,
                            mean=mean, std=std)
    val_batches = list(BatchIterator(val, 500, train=False, mean=mean, std=std).epoch(0))
    return batches, lambda: val_batches, train.classes


def _same_classes(train: tuple, val: tuple) -> None:
    if train != val:
        raise SystemExit(f"the training and validation folders have different classes: "
                         f"{len(train)} vs {len(val)} ({sorted(set(train) ^ set(val))[:5]} differ)")


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int):
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=cfg.patience)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.25)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def _resumed(cfg: TrainConfig, saved: TrainConfig) -> TrainConfig:
    """The saved run's config; only --out, --epochs and the hardware may change."""
    if bool(saved.tower_devices) != bool(cfg.tower_devices or saved.tower_devices):
        raise SystemExit("this run was trained without --tower-devices and its optimizer state is "
                         "laid out for one device: resume it without --tower-devices")
    return replace(saved, **{k: getattr(cfg, k) for k in HARDWARE},
                   tower_devices=cfg.tower_devices or saved.tower_devices,
                   out=cfg.out if cfg.out != TrainConfig.out else saved.out,
                   epochs=cfg.epochs if cfg.epochs != TrainConfig.epochs else saved.epochs)


def _all_sum(values: list[float], world: int) -> list[float]:
    """Sum over the DDP ranks (identity on one process)."""
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def conv_snapshot(model: AlexNet) -> dict:
    """Half-precision conv weights, enough to replay the features (ZF Fig. 4)."""
    return {k: v.detach().half().cpu() for k, v in model.state_dict().items()
            if k.startswith("features.")}


def train(cfg: TrainConfig):
    """Run training as configured; returns the trained net (on its device)."""
    _check(cfg)
    start_epoch, history, state = 0, [], None
    if cfg.resume:
        state = load_checkpoint(cfg.resume)
        cfg = _resumed(cfg, TrainConfig(**state["train_config"]))
        start_epoch, history = state["epoch"], list(state["history"])
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _tune_cpu_allocator()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = _check_device(cfg.device)
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    batches, val_batches, classes = _data(cfg, rank, world)
    torch.manual_seed(cfg.seed)
    mcfg = AlexNetConfig(variant=cfg.variant, num_classes=len(classes),
                         activation=cfg.activation, lrn=cfg.lrn, overlapping_pool=cfg.overlapping_pool,
                         towers=cfg.towers, dropout=cfg.dropout, init=cfg.init,
                         widths=tuple(int(w) for w in cfg.widths.split(",")) if cfg.widths else ())
    model = AlexNet(mcfg)
    if state is not None:
        model.load_state_dict(state["model"])
    net = model.to(device)
    if cfg.tower_devices:
        from .towers import TowerParallel

        net = TowerParallel(model, [_check_device(d) for d in cfg.tower_devices.split(",")])
        device = net.devices[0]
    plain = net  # without the DDP wrapper: evaluation needs no gradient sync
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # DDP starts every replica from rank 0's weights and averages gradients.
        single = device.type == "cuda" and not cfg.tower_devices
        net = DistributedDataParallel(net, device_ids=[device] if single else None)

    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sched = _scheduler(cfg, opt, len(batches))
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])

    out = Path(cfg.out)
    snapshots = {int(e) for e in cfg.snapshot_epochs.split(",") if e} | {cfg.epochs}
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, out / "snapshots"):
            remove_stale_temps(folder)  # left by a run killed while writing
        # Drop metric lines written after the checkpoint we resume from.
        (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    from tqdm import tqdm

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        torch.manual_seed(cfg.seed * 100_003 + epoch * 101 + rank)  # dropout masks
        net.train()
        t0, loss_sum, wrong, seen = time.time(), 0.0, 0, 0
        bar = tqdm(batches.epoch(epoch), total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}",
                   unit="batch", disable=rank != 0, leave=False)
        for step, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            # Every rank must see the same verdict, or the others wait forever.
            mean_loss = _all_sum([loss.item()], world)[0] / world
            if not math.isfinite(mean_loss):
                raise FloatingPointError(
                    f"the loss became {mean_loss} at epoch {epoch}, step {step + 1}: training "
                    f"diverged. Lower --lr (it is {opt.param_groups[0]['lr']:g}) and resume from "
                    f"the last checkpoint, or start again.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.schedule == "onecycle":
                sched.step()
            loss_sum += loss.item() * len(y)
            wrong += int((logits.argmax(1) != y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", err=f"{wrong / seen:.3f}")
        loss_sum, wrong, seen = _all_sum([loss_sum, wrong, seen], world)  # over all ranks' shards
        net.eval()
        val = evaluate(plain, val_batches())  # every rank: the same weights, the same numbers
        if cfg.schedule == "plateau":
            sched.step(val.top1)
        row = dict(epoch=epoch, train_loss=loss_sum / seen, train_error=wrong / seen,
                   val_top1_error=val.top1, val_top5_error=val.top5,
                   lr=opt.param_groups[0]["lr"], seconds=round(time.time() - t0, 2))
        history.append(row)
        if rank == 0:
            print(json.dumps(row), flush=True)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            grouped = plain.to_grouped() if cfg.tower_devices else plain
            if epoch in snapshots:
                save_atomic({"epoch": epoch, "model_config": mcfg.to_dict(),
                             "features": conv_snapshot(grouped)}, out / "snapshots" / f"epoch{epoch:03d}.pt")
            save_atomic({"model": {k: v.cpu() for k, v in grouped.state_dict().items()},
                         "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                         "epoch": epoch, "history": history, "train_config": asdict(cfg),
                         "model_config": mcfg.to_dict(), "classes": list(classes)},
                        out / "last.pt")
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return net


def main(argv=None) -> None:
    train(_parse_args(argv))


if __name__ == "__main__":
    from .checkpoint import CheckpointError

    try:
        main()
    except (FileNotFoundError, FloatingPointError, CheckpointError, ValueError) as e:  # the user's to fix: no traceback
        raise SystemExit(f"error: {e}") from None
