"""How discriminative is each layer? (ZF 5.2, Table 7)

A linear softmax (``analysis.linear_probe``) trained on the pooled features of
one layer, with ``per_class`` labelled images a class, tested on the rest;
repeated over random splits. ZF found the accuracy rises with depth (SVM on
the ImageNet net's layers, Caltech-101 with 30 images a class: 44.8, 66.2,
72.3, 76.6, 86.2, 85.5% for layers 1-5 and 7).

    python -m analysis.layer_features --model cifar10 --per-class 30 --splits 5

runs it on CIFAR-10 test images (``--data-dir``, default the project's one data
folder), ``--images-per-class`` of each class chosen by a seeded permutation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import torch
from torch import nn

from alexnet.stages import stages

from ._layers import image_batch, takes_any_net
from .linear_probe import L2, SplitStats, layer_features, probe_accuracy

# ZF Table 7 (linear SVM on the ImageNet net's layers), accuracy in %.
ZF_TABLE_7 = {
    "Caltech-101 (30/class)": {"layer 1": 44.8, "layer 2": 66.2, "layer 3": 72.3, "layer 4": 76.6,
                               "layer 5": 86.2, "layer 7": 85.5},
    "Caltech-256 (60/class)": {"layer 1": 24.6, "layer 2": 39.6, "layer 3": 46.0, "layer 4": 51.3,
                               "layer 5": 65.6, "layer 7": 71.7},
}


def hidden_layers(model: nn.Module) -> tuple[str, ...]:
    """The net's rectified stages, input to output (act1 .. act7 in AlexNet): ZF's layers 1-7."""
    return tuple(n for n, m in stages(model) if isinstance(m, (nn.ReLU, nn.Tanh)))


@dataclass
class LayerAccuracy(SplitStats):
    """Test accuracy of the linear probe on one layer, one value per split."""

    layer: str
    features: int  # D, after pooling
    accuracy: torch.Tensor  # (splits,)


@takes_any_net
def layer_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, per_class: int,
                   layers=None, splits: int = 3, seed: int = 0, grid: int = 2, l2: float = L2
                   ) -> list[LayerAccuracy]:
    """ZF Table 7 for prepared ``images`` (N, 3, S, S) and ``labels`` (N,): one row per layer
    (default: every rectified stage)."""
    names = list(layers) if layers is not None else list(hidden_layers(model))
    feats = layer_features(model, images, names, grid)
    labels = labels.detach().cpu().long()
    return [LayerAccuracy(n, feats[n].shape[1], probe_accuracy(feats[n], labels, per_class, splits, seed, l2))
            for n in names]


def balanced_subset(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` images of each class (seeded), in class order."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]].sort().values)
    return torch.cat(picks)


def main(argv=None) -> None:
    import argparse

    from alexnet.checkpoint import CheckpointError
    from alexnet.data import load_cifar10
    from alexnet.weights import WeightsUnavailable, load_model

    p = argparse.ArgumentParser(prog="python -m analysis.layer_features",
                                description="ZF 5.2, Table 7: a linear softmax on each layer's features")
    p.add_argument("--model", default="cifar10", help="weights name or checkpoint path")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: the project's data folder)")
    p.add_argument("--images-per-class", type=int, default=100, help="test images used per class")
    p.add_argument("--per-class", type=int, default=30, help="of those, labelled images per class for training")
    p.add_argument("--splits", type=int, default=5, help="random train/test splits")
    p.add_argument("--grid", type=int, default=2, help="spatial maps are averaged over grid x grid cells")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args(argv)
    if not 0 < a.per_class < a.images_per_class:
        sys.exit(f"--per-class must be between 1 and --images-per-class - 1 ({a.images_per_class - 1})")
    try:
        m = load_model(a.model)
        data = load_cifar10(a.data_dir, train=False)
    except (WeightsUnavailable, CheckpointError, FileNotFoundError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    pick = balanced_subset(data.labels, a.images_per_class, a.seed)
    x = image_batch(data, pick, m.mean, m.std)
    if x.shape[-1] != m.input_size:
        sys.exit(f"{a.model} takes {m.input_size}x{m.input_size} images; CIFAR-10's are {x.shape[-1]}")
    torch.manual_seed(a.seed)
    rows = layer_accuracy(m.model, x, data.labels[pick], a.per_class, splits=a.splits, seed=a.seed, grid=a.grid)
    print(f"{a.model}: linear softmax on each layer, {a.per_class} labelled CIFAR-10 test images a class, "
          f"tested on the other {a.images_per_class - a.per_class}, {a.splits} splits")
    for r in rows:
        print(f"{r.layer:8s} {r.features:6d} features   {100 * r.mean:5.1f}% +- {100 * r.std:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": a.model, "args": vars(a), "layers": [
                {"layer": r.layer, "features": r.features, "accuracy": r.accuracy.tolist()} for r in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
