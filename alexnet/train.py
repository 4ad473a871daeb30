"""Train AlexNet with the paper's recipe (AK 5), on one device, two, or many.

    python -m alexnet.train --data-dir ~/data/cifar10 --out runs/cifar
    python -m alexnet.train --resume runs/cifar/last.pt          # after a kill
    python -m alexnet.train --init-from runs/cifar/last.pt --epochs 120 --schedule constant \\
        --cutout 8 --average-from 101 --data-dir ...  # a second phase: 20 more epochs, averaged
    torchrun --nproc_per_node 2 -m alexnet.train --data-dir ...  # DDP
    python -m alexnet.train --teachers a/last.pt,b/last.pt --data-dir ...  # distil two nets into one
    python -m alexnet.train --dataset imagenet-folder --variant imagenet \\
        --data-dir ~/data/imagenet --tower-devices cuda:0,cuda:1  # AK 3.2's two GPUs

Defaults are the paper's: SGD, batch 128, momentum 0.9, weight decay 5e-4,
lr 0.01 divided by 10 when the validation error stops improving (``--val-split
5000`` holds that validation set out of CIFAR-10's training images). Each epoch
appends a line to ``metrics.jsonl`` and rewrites ``last.pt`` atomically;
the data order and dropout masks are functions of (seed, epoch), so a
resumed run repeats exactly what the uninterrupted one would have done.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .checkpoint import check_finite, load_checkpoint, remove_stale_temps, save_atomic, shipped_weights
from .data import BatchIterator, hold_out, load_cifar10, load_image_folder
from .evaluate import evaluate
from .model import GEOMETRY, AlexNet, AlexNetConfig
from .zfnet import ZFNet, ZFNetConfig
from .preprocessing import FOR_VARIANT
from .step import keep_freed_memory, sgd_step
from .train_config import TrainConfig, check, check_device, check_tower_devices, parse_args, resumed

__all__ = ["TrainConfig", "train", "main", "conv_snapshot"]


def _data_root(cfg: TrainConfig) -> Path:
    """``--data-dir`` for the folder datasets, refused early if it has no train/ folder."""
    root = Path(cfg.data_dir).expanduser()
    layout = "train/<class>/ images and val/<class>/ (or test/<class>/), e.g. --data-dir ~/data/cifar10"
    if cfg.dataset != "cifar10" and not cfg.data_dir:
        raise FileNotFoundError(f"--dataset {cfg.dataset} needs --data-dir: a folder holding {layout}")
    if cfg.dataset != "cifar10" and not (root / "train").is_dir():
        where = "does not exist" if not root.is_dir() else "has no train/ folder"
        raise FileNotFoundError(f"--data-dir {root} {where}; give a folder holding {layout}")
    return root


def _val_dir(root: Path) -> Path:
    found = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    if found is None:
        raise FileNotFoundError(f"--data-dir {root} has no val/ or test/ folder to validate on: add "
                                "one with the same class folders as train/, or hold out training "
                                "images with --val-split N")
    return found


def _data(cfg: TrainConfig, rank: int, world: int):
    """(training batches, a function giving the validation batches, class names)."""
    root = _data_root(cfg)
    fed = FOR_VARIANT[cfg.variant]  # what the weights registry feeds this variant's checkpoints
    mean, std = fed.mean, fed.std
    if cfg.dataset == "imagenet-folder":  # too big for memory: stream it (AK 2, 4.1)
        from .augment import FolderStream, pca_basis, test_transform, train_transform

        val_root = _val_dir(root)
        skip = cfg.skip_bad_images
        pca = pca_basis(root / "train", skip_bad=skip)
        train = FolderStream(root / "train", cfg.batch_size, train_transform(*pca),
                             train=True, seed=cfg.seed, rank=rank, world=world,
                             workers=cfg.workers, limit=cfg.limit, skip_bad=skip)
        val = FolderStream(val_root, cfg.batch_size, test_transform(), train=False,
                           workers=cfg.workers, skip_bad=skip)
        _same_classes(train.classes, val.classes)
        return train, lambda: val.epoch(0), train.classes
    val = None  # --val-split: held out of the training images below
    if cfg.dataset == "cifar10":
        train = load_cifar10(cfg.data_dir or None, train=True, download=cfg.download,
                             skip_bad=cfg.skip_bad_images)
        if not cfg.val_split:
            val = load_cifar10(cfg.data_dir or None, train=False, download=cfg.download,
                               skip_bad=cfg.skip_bad_images)
    else:
        side = GEOMETRY[cfg.variant]["input"]
        train = load_image_folder(root / "train", side, skip_bad=cfg.skip_bad_images)
        if not cfg.val_split:
            val = load_image_folder(_val_dir(root), side, skip_bad=cfg.skip_bad_images)
            _same_classes(train.classes, val.classes)
    if cfg.val_split:  # a function of the seed alone: the same on resume and on every DDP rank
        if cfg.val_split >= len(train):
            raise SystemExit(f"--val-split {cfg.val_split} would hold out all {len(train)} training "
                             "images; give a smaller number")
        train, val = hold_out(train, cfg.val_split, cfg.seed)
    if cfg.limit:  # a seeded random subset: folders list their images class by class
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.limit]
        train.images, train.labels = train.images[keep], train.labels[keep]
    batches = BatchIterator(train, cfg.batch_size, train=True, seed=cfg.seed, rank=rank, world=world,
                            mean=mean, std=std, augment=cfg.augment, cutout=cfg.cutout)
    val_batches = list(BatchIterator(val, 500, train=False, mean=mean, std=std).epoch(0))
    return batches, lambda: val_batches, train.classes


def _same_classes(train: tuple, val: tuple) -> None:
    if train != val:
        raise SystemExit(f"the training and validation folders have different classes: "
                         f"{len(train)} vs {len(val)} ({sorted(set(train) ^ set(val))[:5]} differ)")


def build_net(cfg: TrainConfig, num_classes: int):
    """The net a run trains: an AlexNet (the default) or a ZFNet (``--arch zfnet``)."""
    widths = tuple(int(w) for w in cfg.widths.split(",")) if cfg.widths else ()
    if cfg.arch == "zfnet":
        return ZFNet(ZFNetConfig(variant=cfg.variant, num_classes=num_classes, lrn=cfg.lrn,
                                 dropout=cfg.dropout, init=cfg.init, widths=widths))
    return AlexNet(AlexNetConfig(variant=cfg.variant, num_classes=num_classes,
                                 activation=cfg.activation, lrn=cfg.lrn,
                                 overlapping_pool=cfg.overlapping_pool, towers=cfg.towers,
                                 dropout=cfg.dropout, init=cfg.init, widths=widths))


ONECYCLE_MIN_STEPS = 8  # torch's OneCycleLR divides by zero at 4 steps and misbehaves below


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int, begun_at: int = 0):
    """The lr schedule over this run's epochs, ``begun_at + 1`` to ``cfg.epochs``."""
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=cfg.patience)
    if cfg.schedule == "onecycle":
        total = (cfg.epochs - begun_at) * steps_per_epoch
        if total < ONECYCLE_MIN_STEPS:  # its warm-up (a quarter) would be under two steps
            raise SystemExit(f"--schedule onecycle needs at least {ONECYCLE_MIN_STEPS} steps to warm up "
                             f"and anneal; this run has {total} ({cfg.epochs - begun_at} epoch(s) "
                             f"of {steps_per_epoch}). Train longer, or use --schedule constant")
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.25)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def _all_sum(values: list[float], world: int) -> list[float]:
    """Sum over the DDP ranks (identity on one process)."""
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def conv_snapshot(model) -> dict:
    """Half-precision conv weights, enough to replay the features (ZF Fig. 4)."""
    return {k: v.detach().half().cpu().contiguous() for k, v in model.state_dict().items()
            if k.startswith("features.")}


def _diverged(what: str, epoch: int, cfg: TrainConfig, lr: float, where: str = "") -> FloatingPointError:
    """The error for a run whose loss or weights stopped being numbers, with the way out."""
    if cfg.schedule == "onecycle":
        fix = "start again with a lower --lr (a onecycle run's lr curve is fixed when it starts)"
    elif epoch > 1:  # last.pt holds epoch - 1, which was finite
        fix = (f"resume from the last checkpoint, e.g. --resume {Path(cfg.out) / 'last.pt'} "
               f"--lr {lr / 10:g}, or start again")
    else:
        fix = "start again"
    return FloatingPointError(f"{what} at epoch {epoch}{where}: training diverged and nothing from this "
                              f"epoch was saved. Lower --lr (it is {lr:g}) and {fix}.")


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in model.state_dict().values()
               if v.is_floating_point())


def _earlier_run(cfg: TrainConfig) -> dict:
    """What ``--init-from`` goes on from: the trained net's weights, its epoch count,
    history, snapshot files and training phases. A run's last.pt holds its history;
    a shipped checkpoint's is in the manifest beside it (``<name>.json``)."""
    path = Path(cfg.init_from).expanduser()
    state = load_checkpoint(path)
    missing = [k for k in ("model", "model_config", "epoch", "train_config") if k not in state]
    if missing:
        raise ValueError(f"--init-from {path} holds no {', '.join(missing)}: give a run's last.pt or "
                         "a checkpoint that alexnet.export wrote")
    weights = shipped_weights(state)
    check_finite(weights, path)
    epoch, history = state["epoch"], state.get("history")
    manifest = path.with_suffix(".json")
    if history is None and manifest.is_file():
        history = json.loads(manifest.read_text()).get("history")
    if history is None or len(history) != epoch:
        raise ValueError(f"--init-from {path}: its {epoch} epochs' history is not in it, nor in "
                         f"{manifest.name} beside it: give a run's last.pt, or keep the manifest beside "
                         "the checkpoint")
    if cfg.epochs <= epoch:
        raise SystemExit(f"--epochs counts the {epoch} epochs of --init-from {path} too: give more "
                         f"than {epoch} (e.g. --epochs {epoch + 20} for 20 more)")
    before = state["train_config"]
    if cfg.val_split and (before.get("val_split"), before.get("seed")) != (cfg.val_split, cfg.seed):
        raise SystemExit(f"--init-from {path} held out --val-split {before.get('val_split', 0)} images "
                         f"with --seed {before.get('seed')}; this run would hold out others, which that "
                         "net trained on: give the same --val-split and --seed")
    snapshots = [p for p in sorted((path.parent / "snapshots").glob("epoch*.pt"))
                 if p.stem[5:].isdigit() and int(p.stem[5:]) <= epoch]
    phases = list(state.get("phases", [])) + [{"train_config": state["train_config"], "epochs": epoch}]
    return {"model": weights, "model_config": state["model_config"], "epoch": epoch,
            "history": list(history), "snapshots": snapshots, "phases": phases}


def _same_net(model, earlier: dict, where: str) -> None:
    """Refuse to load weights of another shape, naming the settings that differ."""
    def plain(config: dict) -> dict:  # a tuple here is a list once saved
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    ours, theirs = plain(model.config.to_dict()), plain(earlier["model_config"])
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    if differ:
        said = "; ".join(f"{k}: {theirs.get(k)} there, {ours.get(k)} here" for k in differ)
        raise SystemExit(f"--init-from {where} is a different net ({said}): give this command the "
                         "settings it was trained with (e.g. the same --widths)")


def train(cfg: TrainConfig):
    """Run training as configured; returns the trained net (on its device)."""
    check(cfg)
    start_epoch, history, state, new_lr, earlier = 0, [], None, None, None
    begun_at, phases = 0, []  # where this run went on from (--init-from), and the runs before it
    if cfg.init_from:
        earlier = _earlier_run(cfg)
        start_epoch = begun_at = earlier["epoch"]
        history, phases = earlier["history"], earlier["phases"]
    if cfg.resume:
        state = load_checkpoint(cfg.resume)
        if isinstance(state.get("model"), dict):  # a nan start would only diverge at step 1
            check_finite(state["model"], cfg.resume)
        saved = TrainConfig(**state["train_config"])  # an older run's missing fields: defaults
        cfg = resumed(cfg, saved)
        start_epoch, history = state["epoch"], list(state["history"])
        begun_at, phases = state.get("begun_at", 0), list(state.get("phases", []))
        new_lr = cfg.lr if cfg.lr != saved.lr else None  # recorded in cfg, so kept on a later resume
    # Every device is checked before any data loads (which can take minutes).
    device = check_device(cfg.device)
    tower_devices = check_tower_devices(cfg.tower_devices) if cfg.tower_devices else None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    keep_freed_memory()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    teachers = None  # --teachers: their soft targets for each batch (alexnet.distill)
    if cfg.teachers:  # read before the data, which can take minutes
        from .distill import Teachers

        teachers = Teachers(cfg.teachers.split(","), FOR_VARIANT[cfg.variant])
        if state is not None:
            teachers.check_same(state.get("teachers", []), cfg.resume)
    batches, val_batches, classes = _data(cfg, rank, world)
    torch.manual_seed(cfg.seed)
    model = build_net(cfg, len(classes))
    mcfg = model.config
    if state is not None:
        model.load_state_dict(state["model"])
    elif earlier is not None:
        _same_net(model, earlier, cfg.init_from)
        model.load_state_dict({k: v.float() for k, v in earlier["model"].items()})
    average = None  # --average-from: the equal average of the weights at each epoch's end
    if cfg.average_from:
        from torch.optim.swa_utils import AveragedModel

        average = AveragedModel(build_net(cfg, len(classes)))  # on the CPU, in the grouped layout
        if state is not None and "average" in state:
            average.module.load_state_dict(state["average"])
            average.n_averaged.fill_(state["averaged"])
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net = model.to(device, memory_format=layout)
    if tower_devices:
        from .towers import TowerParallel

        net = TowerParallel(model, tower_devices)
        device = net.devices[0]
    bf16 = cfg.precision == "bf16"
    if teachers is not None:
        teachers.check_classes(classes)
        teachers.to(device, layout, torch.bfloat16 if bf16 else None)
    plain = net  # without the DDP wrapper: evaluation needs no gradient sync
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        # DDP starts every replica from rank 0's weights and averages gradients.
        single = device.type == "cuda" and not tower_devices
        net = DistributedDataParallel(net, device_ids=[device] if single else None)

    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sched = _scheduler(cfg, opt, len(batches), begun_at)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    if new_lr is not None:  # --lr on resume (plateau, constant; onecycle was refused)
        for group in opt.param_groups:
            group["lr"] = new_lr

    out = Path(cfg.out)
    snapshots = {int(e) for e in cfg.snapshot_epochs.split(",") if e} | {cfg.epochs}
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, out / "snapshots"):
            remove_stale_temps(folder)  # left by a run killed while writing
        # Drop metric lines written after the checkpoint we resume from.
        (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
        if earlier is not None:  # the earlier run's snapshots are this run's first ones
            (out / "snapshots").mkdir(exist_ok=True)
            for p in earlier["snapshots"]:
                shutil.copyfile(p, out / "snapshots" / p.name)
    from tqdm import tqdm

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        torch.manual_seed(cfg.seed * 100_003 + epoch * 101 + rank)  # dropout masks
        net.train()
        t0, loss_sum, wrong, seen = time.time(), 0.0, 0, 0
        bar = tqdm(batches.epoch(epoch), total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}",
                   unit="batch", disable=rank != 0, leave=False)
        for step, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True, memory_format=layout), y.to(device, non_blocking=True)

            def finite(loss: float, step=step) -> bool:
                # Every rank must see the same verdict, or the others wait forever.
                mean_loss = _all_sum([loss], world)[0] / world
                if not math.isfinite(mean_loss):
                    raise _diverged(f"the loss became {mean_loss}", epoch, cfg,
                                    opt.param_groups[0]["lr"], f", step {step + 1}")
                return True

            soft = (teachers.soft(x, cfg.distill_temperature, cfg.distill_weight, bf16)
                    if teachers is not None else None)
            s = sgd_step(net, opt, x, y, label_smoothing=cfg.label_smoothing, finite=finite,
                         bf16=bf16, soft=soft)
            if cfg.schedule == "onecycle":
                sched.step()
            loss_sum += s.loss * s.size
            wrong += s.wrong
            seen += s.size
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", err=f"{wrong / seen:.3f}")
        # The last step can break the weights after the last loss was checked;
        # a NaN model is never evaluated or saved. Replicas are equal, but all
        # ranks still take the same verdict.
        if _all_sum([float(not _finite(plain))], world)[0]:
            raise _diverged("the weights became inf or nan", epoch, cfg, opt.param_groups[0]["lr"])
        loss_sum, wrong, seen = _all_sum([loss_sum, wrong, seen], world)  # over all ranks' shards
        net.eval()
        val = evaluate(plain, val_batches())  # every rank: the same weights, the same numbers
        if cfg.schedule == "plateau":
            sched.step(val.top1)
        row = dict(epoch=epoch, train_loss=loss_sum / seen, train_error=wrong / seen,
                   val_top1_error=val.top1, val_top5_error=val.top5,
                   lr=opt.param_groups[0]["lr"])
        grouped = plain.to_grouped() if tower_devices else plain
        if average is not None and epoch >= cfg.average_from:
            average.update_parameters(grouped)
            average.eval()
            mean_val = evaluate(average.module, val_batches())
            row.update(average_val_top1_error=mean_val.top1, average_val_top5_error=mean_val.top5,
                       averaged_epochs=int(average.n_averaged))
        row["seconds"] = round(time.time() - t0, 2)
        history.append(row)
        if rank == 0:
            print(json.dumps(row), flush=True)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            averaged = average is not None and int(average.n_averaged) > 0
            if epoch in snapshots:  # the last one is of the net that ships: the average, if kept
                shipped = average.module if averaged and epoch == cfg.epochs else grouped
                save_atomic({"epoch": epoch, "model_config": mcfg.to_dict(),
                             "features": conv_snapshot(shipped)}, out / "snapshots" / f"epoch{epoch:03d}.pt")
            kept = {"model": {k: v.cpu().contiguous() for k, v in grouped.state_dict().items()},
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "epoch": epoch, "history": history, "train_config": asdict(cfg),
                    "model_config": mcfg.to_dict(), "classes": list(classes),
                    "begun_at": begun_at, "phases": phases}
            if teachers is not None:
                kept["teachers"] = teachers.files
            if averaged:
                kept.update(average={k: v.cpu().contiguous() for k, v in average.module.state_dict().items()},
                            averaged=int(average.n_averaged))
            save_atomic(kept, out / "last.pt")
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return net


def main(argv=None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    from .checkpoint import CheckpointError

    try:
        main()
    except (FileNotFoundError, FloatingPointError, CheckpointError, ValueError) as e:  # the user's to fix: no traceback
        raise SystemExit(f"error: {e}") from None
