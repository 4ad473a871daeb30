"""Transfer to your own images (ZF 5.1): the net fixed, a new softmax on one layer.

ZF kept the ImageNet net's layers 1-7 and trained only a softmax on top for
Caltech-101 (86.5% with 30 images a class) and Caltech-256 (74.2% with 60);
with few images per class it beat the methods of the day by far. Here the same
classifier (``analysis.linear_probe``) on any folder with one sub-folder per
class, from a chosen layer of a chosen model:

    python -m analysis.transfer --folder ~/data/caltech101 --model imagenet --layer act7 --per-class 30

Images are prepared as the weights want them (their ``Preprocessing``: resize,
centre crop, mean/std); ``per_class`` of each class train the probe, the rest
(at most ``max_per_class`` in all, chosen by the seed) test it, over ``splits``
random splits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from alexnet.data import class_folders, picture_files
from alexnet.images import ImageError, load_image

from ._layers import check_layer
from .linear_probe import L2, SplitStats, layer_features, probe_accuracy

ZF_TRANSFER = {"Caltech-101 (30/class)": 86.5, "Caltech-256 (60/class)": 74.2}  # ZF 5.1, % correct


@dataclass
class TransferResult(SplitStats):
    layer: str
    classes: tuple[str, ...]
    per_class: int  # labelled images a class for training
    images: int  # images used in all (train + test)
    skipped: list[str]  # files that could not be read as images
    accuracy: torch.Tensor  # (splits,) on the held-out images


def list_folder(folder, max_per_class: int | None = None, seed: int = 0) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """(class names, [(file, label)]) of a folder holding one sub-folder of images per class."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder: give a folder with one sub-folder of images per class")
    classes = tuple(p.name for p in class_folders(root))
    if len(classes) < 2:
        raise ValueError(f"{root} has {len(classes)} class folder(s): a classifier needs at least 2 "
                         "(one sub-folder of images per class)")
    g = torch.Generator().manual_seed(seed)
    files = []
    for label, name in enumerate(classes):
        found = picture_files(root / name)
        if max_per_class is not None and len(found) > max_per_class:
            keep = torch.randperm(len(found), generator=g)[:max_per_class].sort().values.tolist()
            found = [found[i] for i in keep]
        files += [(p, label) for p in found]
    return classes, files


def prepare(loaded, files) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images (N, 3, S, S) as ``loaded`` wants them, labels (N,), files that could not be read)."""
    xs, ys, skipped = [], [], []
    for path, label in files:
        try:
            xs.append(loaded.preprocess(load_image(path.read_bytes())))
            ys.append(label)
        except (ImageError, OSError):
            skipped.append(str(path))
    if not xs:
        raise ValueError("no readable images in the class folders (PNG, JPEG, WebP, BMP, GIF)")
    return torch.cat(xs), torch.tensor(ys), skipped


def transfer(loaded, folder, layer: str | None = None, per_class: int = 30, splits: int = 3,
             max_per_class: int | None = None, seed: int = 0, grid: int = 2, l2: float = L2) -> TransferResult:
    """ZF 5.1 on ``folder``: a softmax on ``layer`` (default: the net's penultimate role) of ``loaded``
    (an ``alexnet.weights.LoadedModel``), ``per_class`` labelled images a class, tested on the rest."""
    layer = check_layer(loaded.model, layer or loaded.model.roles.penultimate)  # before reading any image
    classes, files = list_folder(folder, max_per_class, seed)
    x, y, skipped = prepare(loaded, files)
    counts = torch.bincount(y, minlength=len(classes))
    short = [f"{classes[c]} ({int(n)})" for c, n in enumerate(counts) if n <= per_class]
    if short:
        raise ValueError(f"every class needs more than --per-class {per_class} readable images (the rest "
                         f"test the classifier); too few in: {', '.join(short[:5])}")
    feats = layer_features(loaded.model, x, [layer], grid)[layer]
    acc = probe_accuracy(feats, y, per_class, splits, seed, l2)
    return TransferResult(layer, classes, per_class, len(y), skipped, acc)


def main(argv=None) -> None:
    import argparse

    from alexnet.checkpoint import CheckpointError
    from alexnet.weights import WeightsUnavailable, load_model

    p = argparse.ArgumentParser(prog="python -m analysis.transfer",
                                description="ZF 5.1: a softmax on one layer of a fixed net, for your image folder")
    p.add_argument("--folder", required=True, help="one sub-folder of images per class")
    p.add_argument("--model", default="cifar10", help="weights name or checkpoint path")
    p.add_argument("--layer", default=None, help="stage name (default: the net's penultimate layer)")
    p.add_argument("--per-class", type=int, default=30, help="labelled images a class for training")
    p.add_argument("--max-per-class", type=int, default=None, help="use at most this many images a class")
    p.add_argument("--splits", type=int, default=3, help="random train/test splits")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        m = load_model(a.model)
        r = transfer(m, a.folder, a.layer, a.per_class, a.splits, a.max_per_class, a.seed)
    except KeyError as e:  # a layer the net does not have: the message lists the choices
        sys.exit(f"error: --layer: {e.args[0]}")
    except (WeightsUnavailable, CheckpointError, FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    print(f"{a.model}, layer {r.layer}: {len(r.classes)} classes, {r.per_class} labelled images a class, "
          f"{r.images} images in all; accuracy on the rest {100 * r.mean:.1f}% +- {100 * r.std:.1f} "
          f"over {len(r.accuracy)} splits (chance {100 / len(r.classes):.1f}%)")
    if r.skipped:
        print(f"skipped {len(r.skipped)} unreadable file(s), e.g. {r.skipped[0]}")


if __name__ == "__main__":
    main()
