"""Feature invariance (ZF 4, "Feature Invariance", Fig. 5): translate, scale, rotate.

For each amount of a transformation: the Euclidean distance between the
transformed image's feature vector and the original's at layer 1 and layer
7, and the probability of the true class. ZF find layer 1 changing a lot,
layer 7 about linearly in translation and scale, and the output stable to
translation and scale but not to rotation.

"Layer 1" is ZF's whole first layer, conv1 -> ReLU -> (LRN) -> max-pool (the
net's ``first_block`` role); "layer 7" is fc7 after its ReLU (its
``penultimate`` role). These are the default layers; any stage may be named. Pixels the
transformation uncovers are filled with 0, the dataset mean in normalised
space (ZF's grey). All transforms keep the input size and act about the
image centre, through ``torchvision.transforms.v2.functional``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ._layers import activations, check_images, check_layer, per_image, role, roles, takes_any_net

TRANSFORMS = ("translate", "scale", "rotate")
ROLES = ("first_block", "penultimate")  # ZF "layer 1" and "layer 7": the default layers
IDENTITY = {"translate": 0.0, "scale": 1.0, "rotate": 0.0}


@dataclass
class InvarianceCurve:
    """One transformation swept over S amounts for a batch of B images."""

    transform: str  # "translate" (vertical, pixels), "scale" (factor) or "rotate" (degrees)
    amounts: torch.Tensor  # (S,)
    distances: dict[str, torch.Tensor]  # layer -> (B, S) distance to the original's features
    target: torch.Tensor  # (B,) the class whose probability is tracked
    probability: torch.Tensor  # (B, S) its probability
    top_class: torch.Tensor  # (B, S) the most probable class


def default_amounts(transform: str, side: int) -> torch.Tensor:
    """ZF Fig. 5-like ranges: +-side/4 pixels, 0.6-1.4x, 0-360 degrees in steps of 10."""
    _check_transform(transform)
    if transform == "translate":
        step, reach = max(1, side // 28), side // 4  # 224: -56..56 by 8; 32: -8..8 by 1
        return torch.arange(-reach, reach + 1, step, dtype=torch.float32)
    if transform == "scale":
        return torch.linspace(0.6, 1.4, 9)
    return torch.arange(0, 361, 10, dtype=torch.float32)


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transformation {transform!r}; choose from {', '.join(TRANSFORMS)}")


def transform_images(images: torch.Tensor, transform: str, amount: float) -> torch.Tensor:
    """(B, C, H, W) images moved down by ``amount`` pixels, zoomed ``amount`` times
    about the centre, or turned ``amount`` degrees anticlockwise; same size, 0-filled.

    The identity amount returns the images themselves (no resampling).
    """
    _check_transform(transform)
    amount = float(amount)
    if transform == "scale" and amount <= 0:
        raise ValueError(f"a scale factor must be positive, got {amount}")
    if amount == IDENTITY[transform]:
        return images
    bilinear = InterpolationMode.BILINEAR
    if transform == "rotate":
        return TF.rotate(images, amount, interpolation=bilinear, fill=0.0)
    translate = [0.0, amount] if transform == "translate" else [0.0, 0.0]
    scale = amount if transform == "scale" else 1.0
    return TF.affine(images, angle=0.0, translate=translate, scale=scale, shear=[0.0, 0.0],
                     interpolation=bilinear, fill=0.0)


def _layers(model, layers) -> tuple[str, ...]:
    if layers is None:
        layers = tuple(getattr(roles(model), r) for r in ROLES)
    layers = tuple(check_layer(model, name) for name in ([layers] if isinstance(layers, str) else layers))
    if not layers:
        raise ValueError(f"give at least one layer, e.g. {tuple(getattr(roles(model), r) for r in ROLES)}"
                         if hasattr(model, "roles") else "give at least one layer")
    return layers


@takes_any_net
def invariance(model: nn.Module, images: torch.Tensor, transform: str, amounts=None, target=None,
               layers=None, batch_size: int = 64) -> InvarianceCurve:
    """ZF Fig. 5 for one transformation of (B, 3, H, W) normalised ``images``.

    ``amounts``: the sweep (default ``default_amounts``); ``target``: the true
    class, an int or one per image (None: each image's top class). ``layers``:
    whose feature distances to report (None: the net's ``first_block`` and
    ``penultimate`` roles, ZF's layers 1 and 7). The caller sets the model's mode.
    """
    check_images(images)
    _check_transform(transform)
    layers = _layers(model, layers)
    logits = role(model, "logits")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    amounts = default_amounts(transform, min(images.shape[-2:])) if amounts is None else \
        torch.as_tensor(amounts, dtype=torch.float32).reshape(-1)
    if len(amounts) == 0:
        raise ValueError("amounts is empty; give at least one amount of transformation")
    b, names = len(images), list(dict.fromkeys(layers + (logits,)))
    per_batch = max(1, batch_size // b)  # amounts per forward pass
    dist, prob, top = {name: [] for name in layers}, [], []
    with torch.inference_mode():
        original = activations(model, images, names)
        prob0 = original[logits].softmax(1)
        tgt = per_image(target, prob0.argmax(1), prob0.shape[1], "target", "a class index")
        for i in range(0, len(amounts), per_batch):
            # (a*B, C, H, W): the images under each amount of this group, amount-major
            moved = torch.cat([transform_images(images, transform, a)
                               for a in amounts[i:i + per_batch].tolist()])
            out = activations(model, moved, names)
            reps = len(moved) // b
            for name in layers:
                diff = out[name] - original[name].repeat(reps, *[1] * (original[name].dim() - 1))
                dist[name].append(diff.flatten(1).norm(dim=1))
            p = out[logits].softmax(1)
            prob.append(p.gather(1, tgt.repeat(reps)[:, None])[:, 0])
            top.append(p.argmax(1))

    def by_image(parts):  # (S*B,) amount-major -> (B, S), a plain (not inference) tensor
        return torch.cat(parts).reshape(len(amounts), b).T.clone()

    return InvarianceCurve(transform, amounts.clone(), {n: by_image(d) for n, d in dist.items()},
                           tgt.clone(), by_image(prob), by_image(top))


@takes_any_net
def invariance_all(model: nn.Module, images: torch.Tensor, target=None, layers=None,
                   batch_size: int = 64) -> dict[str, InvarianceCurve]:
    """``invariance`` for all three of ZF Fig. 5's transformations, default amounts."""
    return {t: invariance(model, images, t, target=target, layers=layers, batch_size=batch_size)
            for t in TRANSFORMS}

