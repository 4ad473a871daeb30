"""A training run's settings: ``TrainConfig``, its command line, and the checks
that run before any data is loaded (bad values, devices that are not there,
what a resumed run may change). ``alexnet.train`` runs the config."""

from __future__ import annotations

import argparse
import inspect
import math
import re
from dataclasses import dataclass, fields, replace

import torch

from .data import AUGMENTS


@dataclass
class TrainConfig:
    data_dir: str = ""  # CIFAR-10 (train/ and test/ class folders) or torchvision's archive
    download: bool = False  # let torchvision download CIFAR-10 into data_dir
    dataset: str = "cifar10"  # cifar10, folder (small, in memory) or imagenet-folder (streamed)
    out: str = "runs/alexnet"  # folder for last.pt, metrics.jsonl and snapshots/
    arch: str = "alexnet"  # alexnet, or zfnet (ZF Fig. 3: 7x7/2 conv1, stride-2 conv2, dense conv3-5,
    #   one tower; --towers, --activation and --overlapping-pool apply to alexnet only)
    variant: str = "cifar"  # cifar (32x32), imagenet (224x224), or torchvision (224; with --towers 1 --no-lrn)
    activation: str = "relu"  # relu or tanh (AK 3.1)
    lrn: bool = True  # local response normalisation after conv1 and conv2 (AK 3.3)
    overlapping_pool: bool = True  # 3x3 stride-2 pools (AK 3.4); off: 2x2 stride 2
    towers: int = 2  # 2 towers, or 1: the paper's one-GPU net (AK 3.2)
    init: str = "paper"  # paper: N(0, 0.01) and unit biases (AK 5); kaiming: He init
    dropout: float = 0.5  # in fc6 and fc7 (AK 4.2)
    epochs: int = 90  # passes over the training set
    batch_size: int = 128  # images per SGD step (per process under DDP)
    lr: float = 0.01  # learning rate (onecycle: its peak). With --resume, a value other than
    #   the run's own and this default replaces the current lr from the next epoch on
    #   (plateau, constant), e.g. after a NaN loss; a onecycle run's lr curve is fixed
    precision: str = "fp32"  # fp32, or bf16: convolutions and matmuls in bfloat16 under autocast
    #   (weights, updates and evaluation stay fp32); a step 1.5-1.7x faster on CPUs with AVX512-BF16
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 weight decay
    schedule: str = "plateau"  # "plateau" (AK 5), "onecycle", or "constant"
    patience: int = 3  # plateau: epochs without improvement before lr /= 10
    label_smoothing: float = 0.0  # cross-entropy against (1 - e) one-hot + e uniform; 0: the paper's loss
    augment: str = "crop-flip"  # crop-flip: AK 4.1 at 32x32; photo: also scale, colour, PCA noise
    #   and blur (alexnet/photo_augment.py), for photos that are not framed like CIFAR-10
    cutout: int = 0  # side in pixels of a square blanked (set to the mean) in every training image,
    #   after --augment (DeVries and Taylor, 2017: 16 for CIFAR-10); 0: none, as in the paper
    average_from: int = 0  # from this epoch on, also keep the equal average of the weights at the
    #   end of each epoch (stochastic weight averaging, Izmailov et al., 2018), validate it beside
    #   them, and export it; 0: no average, as in the paper
    teachers: str = ""  # trained nets, comma-separated (runs' last.pt or exported checkpoints): the
    #   net also learns their mean softened prediction on each augmented batch (knowledge
    #   distillation, Hinton et al., 2015), so one net learns an ensemble; empty: none, as in the paper
    distill_weight: float = 0.9  # with --teachers: the soft targets' share of the loss (the labels'
    #   cross-entropy gets the rest)
    distill_temperature: float = 4.0  # with --teachers: the softmax temperature of the soft targets
    init_from: str = ""  # go on from a trained net (a run's last.pt, or a shipped checkpoint beside
    #   its manifest) with fresh SGD state and this command's settings: its epochs, history and
    #   snapshots become this run's first ones, and --epochs counts them too
    seed: int = 0  # initial weights, data order, augmentation, dropout, --limit and --val-split images
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...
    tower_devices: str = ""  # e.g. "cuda:0,cuda:1": tower A and B on two devices
    snapshot_epochs: str = "1,2,5,10,20"  # conv weights kept for ZF Fig. 4; the last is added
    limit: int = 0  # train on N training images, a random subset fixed by --seed (0: all; quick checks)
    val_split: int = 0  # hold out N training images (chosen by --seed) as the validation set;
    #   0: validate on the val/ or test/ folder. The paper's lr drops watched a validation set
    #   (AK 5) and CIFAR-10 has none, so --val-split 5000 is the faithful choice with
    #   --schedule plateau; 0 lets the test set steer the drops (cifar10 and folder only)
    resume: str = ""  # a last.pt to continue from
    threads: int = 0  # torch CPU threads; 0 keeps torch's choice
    channels_last: bool = False  # activations in channels-last (NHWC) memory: with --precision bf16
    #   a CPU step is 1.04-1.14x faster (bench/bench_train.py), in float32 slower. Like --threads,
    #   it is where the run happens, not what it computes: give it again on --resume
    widths: str = ""  # "conv1,...,conv5,fc6,fc7" kernel counts; empty: the variant's own
    workers: int = 4  # DataLoader processes decoding images (imagenet-folder only)
    skip_bad_images: bool = False  # leave out (and count) images that cannot be decoded;
    #   without it a damaged image stops the run with the paths of all of them


SCHEDULES = ("plateau", "onecycle", "constant")
PRECISIONS = ("fp32", "bf16")
ARCHS = ("alexnet", "zfnet")
DATASETS = ("cifar10", "folder", "imagenet-folder")
# Where a run happens, not what it computes: a resumed run takes these from
# the command line; everything else comes from the checkpoint.
HARDWARE = ("device", "threads", "workers", "resume", "channels_last")
DEVICE_FORMS = "cpu, cuda (the first GPU) or cuda:N"


def _field_help() -> dict[str, str]:
    """TrainConfig's trailing comments (and the comment lines under them), so
    the --help text has one source."""
    notes, name = {}, None
    for line in inspect.getsource(TrainConfig).splitlines():
        field = re.match(r"\s+(\w+): \w+ = .*?#\s*(.+)$", line)
        more = re.match(r"\s+#\s*(.+)$", line)
        if field:
            name = field[1]
            notes[name] = field[2]
        elif more and name:
            notes[name] += " " + more[1]
        else:
            name = None
    return notes


def parse_args(argv=None) -> TrainConfig:
    """The command line as a TrainConfig (``python -m alexnet.train --help``)."""
    p = argparse.ArgumentParser(
        prog="python -m alexnet.train", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train AlexNet with the paper's recipe (AK 5), on one device, two, or many.")
    notes = _field_help()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        h = notes.get(f.name, "")
        if f.type == "bool":
            p.add_argument(flag, default=f.default, action=argparse.BooleanOptionalAction, help=h)
        else:
            p.add_argument(flag, default=f.default, type=type(f.default), help=h)
    return TrainConfig(**vars(p.parse_args(argv)))


def check(cfg: TrainConfig) -> None:
    """Refuse settings that cannot work, before anything is loaded."""
    if cfg.epochs < 1:
        raise SystemExit(f"--epochs must be at least 1, got {cfg.epochs}")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise SystemExit(f"--lr must be a positive number, got {cfg.lr}")
    if cfg.precision not in PRECISIONS:
        raise SystemExit(f"unknown --precision {cfg.precision!r}; choose from {', '.join(PRECISIONS)}")
    if cfg.schedule not in SCHEDULES:
        raise SystemExit(f"unknown --schedule {cfg.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if cfg.arch not in ARCHS:
        raise SystemExit(f"unknown --arch {cfg.arch!r}; choose from {', '.join(ARCHS)}")
    if cfg.arch == "zfnet" and cfg.variant not in ("cifar", "imagenet"):
        raise SystemExit(f"--arch zfnet has the variants cifar and imagenet, got --variant {cfg.variant}")
    if cfg.arch == "zfnet" and cfg.tower_devices:
        raise SystemExit("--tower-devices splits AlexNet's two towers (AK 3.2); ZFNet has one "
                         "tower (ZF 4.1): leave out --tower-devices")
    if cfg.arch == "zfnet" and cfg.activation != "relu":
        raise SystemExit("--arch zfnet uses ReLUs (ZF Fig. 3): leave out --activation")
    if cfg.dataset not in DATASETS:
        raise SystemExit(f"unknown --dataset {cfg.dataset!r}; choose from {', '.join(DATASETS)}")
    if cfg.dataset == "imagenet-folder" and cfg.variant == "cifar":
        raise SystemExit("--dataset imagenet-folder feeds 224x224 crops (AK 4.1): "
                         "use --variant imagenet (or torchvision)")
    if not 0 <= cfg.label_smoothing < 1:
        raise SystemExit(f"--label-smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.augment not in AUGMENTS:
        raise SystemExit(f"unknown --augment {cfg.augment!r}; choose from {', '.join(AUGMENTS)}")
    if cfg.augment != "crop-flip" and cfg.dataset == "imagenet-folder":
        raise SystemExit("--augment applies to in-memory datasets (cifar10, folder); "
                         "imagenet-folder always uses the paper's pipeline (AK 2, 4.1)")
    if cfg.cutout < 0:
        raise SystemExit(f"--cutout is the side of the blanked square in pixels, 0 for none; got {cfg.cutout}")
    if cfg.cutout and cfg.dataset == "imagenet-folder":
        raise SystemExit("--cutout applies to in-memory datasets (cifar10, folder); imagenet-folder "
                         "always uses the paper's pipeline (AK 2, 4.1)")
    if not 0 <= cfg.average_from <= cfg.epochs:
        raise SystemExit(f"--average-from is the epoch the weight average starts at (0: none), at most "
                         f"--epochs {cfg.epochs}; got {cfg.average_from}")
    if not 0 < cfg.distill_weight <= 1:
        raise SystemExit(f"--distill-weight is the soft targets' share of the loss, in (0, 1]; got "
                         f"{cfg.distill_weight}")
    if not (cfg.distill_temperature > 0 and math.isfinite(cfg.distill_temperature)):
        raise SystemExit(f"--distill-temperature must be a positive number, got {cfg.distill_temperature}")
    if cfg.init_from and cfg.resume:
        raise SystemExit("--resume goes on with a run's own settings, --init-from starts a new run from "
                         "a trained net's weights: give one of them")
    if cfg.val_split < 0:
        raise SystemExit(f"--val-split must be 0 (use the val/ or test/ folder) or a number of "
                         f"training images to hold out, got {cfg.val_split}")
    if cfg.val_split and cfg.dataset == "imagenet-folder":
        raise SystemExit("--val-split holds out images of an in-memory dataset (cifar10, folder); "
                         "--dataset imagenet-folder validates on its val/ folder: leave --val-split out")
    if cfg.tower_devices and cfg.towers != 2:
        raise SystemExit("--tower-devices puts the two towers (AK 3.2) on two devices: "
                         f"it needs --towers 2, got --towers {cfg.towers}")


def check_device(name: str, flag: str = "--device") -> torch.device:
    """``name`` as a device this machine has, or a SystemExit saying what to give instead."""
    try:
        d = torch.device(name)
    except RuntimeError:
        raise SystemExit(f"{flag} {name!r} is not a device name torch understands; "
                         f"use {DEVICE_FORMS}") from None
    instead = "run with --device cpu" if flag == "--device" else f"leave out {flag}"
    if d.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"{flag} {name!r} was asked for, but this machine has no CUDA GPU "
                         f"that torch can use; {instead}")
    if d.type == "cuda" and (d.index or 0) >= torch.cuda.device_count():
        raise SystemExit(f"{flag} {name!r} does not exist: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s), cuda:0 .. "
                         f"cuda:{torch.cuda.device_count() - 1}")
    if d.type == "meta":
        raise SystemExit(f"{flag} 'meta' holds shapes but no numbers, so nothing can train on it; "
                         f"use {DEVICE_FORMS}")
    # CUDA is probed by the two checks above; touching it here would, under
    # torchrun, open a context on GPU 0 from every rank before each picks its own.
    if d.type not in ("cpu", "cuda"):
        try:
            torch.empty(0, device=d)
        except Exception as e:  # RuntimeError, NotImplementedError, AssertionError: no backend
            why = str(e).split(". ")[0].splitlines()[0][:120] if str(e) else type(e).__name__
            raise SystemExit(f"{flag} {name!r}: torch cannot use {d.type} devices on this "
                             f"machine ({why}); use {DEVICE_FORMS}") from None
    return d


def check_tower_devices(spec: str) -> list[torch.device]:
    """``--tower-devices`` as two devices this machine has (tower A's, tower B's)."""
    names = [s.strip() for s in spec.split(",")]
    if len(names) != 2 or not all(names):
        raise SystemExit(f"--tower-devices needs two devices, one per tower, e.g. cuda:0,cuda:1 "
                         f"(or cpu,cpu); got {spec!r}")
    return [check_device(n, "--tower-devices") for n in names]


def resumed(cfg: TrainConfig, saved: TrainConfig) -> TrainConfig:
    """The saved run's config with what this command line may change: --out,
    --epochs, --lr (not for onecycle), the hardware, and where the --teachers
    files now are (the run checks they are the same files)."""
    if bool(saved.tower_devices) != bool(cfg.tower_devices or saved.tower_devices):
        raise SystemExit("this run was trained without --tower-devices and its optimizer state is "
                         "laid out for one device: resume it without --tower-devices")
    epochs = cfg.epochs if cfg.epochs != TrainConfig.epochs else saved.epochs
    lr = cfg.lr if cfg.lr != TrainConfig.lr else saved.lr
    if saved.schedule == "onecycle" and lr != saved.lr:
        raise SystemExit(f"--lr cannot change when resuming a --schedule onecycle run: its lr curve "
                         f"(peak {saved.lr:g}) was fixed when the run started. Resume without --lr, "
                         f"or start a new run with a lower --lr")
    if saved.schedule == "onecycle" and epochs != saved.epochs:
        raise SystemExit(f"--epochs cannot change when resuming a --schedule onecycle run: its lr "
                         f"curve ends at epoch {saved.epochs}. Resume without --epochs")
    return replace(saved, **{k: getattr(cfg, k) for k in HARDWARE},
                   tower_devices=cfg.tower_devices or saved.tower_devices,
                   skip_bad_images=cfg.skip_bad_images or saved.skip_bad_images,
                   teachers=cfg.teachers or saved.teachers,
                   out=cfg.out if cfg.out != TrainConfig.out else saved.out, epochs=epochs, lr=lr)
