"""Correspondence (ZF 4.3, Table 1): does the net treat the same part of different
objects alike?

ZF masked the same part (left eye, right eye, nose) in five dog images and,
at layer l, took each image's feature change eps_i = x_i - x~_i (original
minus occluded features). If the net has an implicit notion of "the eye",
covering the eye should change the same features the same way in every
image: the sign patterns sign(eps_i) should agree. ZF measure disagreement as

    Delta_l = sum over pairs (i, j), i != j, of H(sign(eps_i), sign(eps_j))

with H the Hamming distance, and compare it with masks at random positions.

Normalisation. ZF's Table 1 values (0.067 .. 0.107) can only be a *share*: the
Hamming distance divided by the number of features D (a raw count over
13x13x256 conv5 features would be thousands), then averaged over the pairs
(a sum over the 20 ordered pairs of 5 images would be 20 times larger, above
1). So here ``Delta`` is the mean over the unordered pairs i < j of
H / D, in [0, 1]: the share of features whose change has a different sign in
the two images; their spread is the standard deviation over those pairs (ZF
report mean +- std). sign(0) = 0 counts as its own value: a ReLU feature off
in both the original and the occluded image (eps = 0) agrees in every pair,
which is why the shares are small.

The fill is 0 in the net's normalised input, i.e. the dataset's mean colour,
as in ``analysis.occlusion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._layers import Box, activations, check_images, check_layer, role, takes_any_net

# ZF Table 1: mean feature sign change (mean +- std) for 5 dog images, layers 5 and 7.
# PAPER_NOTES.md gives the layer-5 column; layer 7 is read from the same table.
ZF_TABLE_1 = {
    "right eye": {"layer 5": (0.067, 0.007), "layer 7": (0.069, 0.015)},
    "left eye": {"layer 5": (0.069, 0.007), "layer 7": (0.068, 0.013)},
    "nose": {"layer 5": (0.079, 0.017), "layer 7": (0.069, 0.011)},
    "random": {"layer 5": (0.107, 0.017), "layer 7": (0.073, 0.014)},
}


@dataclass
class Correspondence:
    """Sign disagreement of the feature changes at one layer, over the pairs of images."""

    layer: str
    pairs: torch.Tensor  # (P,) H(sign eps_i, sign eps_j) / D for each pair i < j, in pair order
    changed: torch.Tensor  # (N,) share of features the mask changed at all, per image

    @property
    def delta(self) -> float:
        """Mean over pairs: ZF's Delta_l as a share (see the module docstring)."""
        return float(self.pairs.mean())

    @property
    def spread(self) -> float:
        """Standard deviation over the pairs (0 for a single pair)."""
        return float(self.pairs.std()) if len(self.pairs) > 1 else 0.0


def check_boxes(boxes, n: int, height: int, width: int) -> list[Box]:
    """One non-empty ``Box`` per image inside a height x width image, else a ValueError."""
    boxes = list(boxes)
    if len(boxes) != n:
        raise ValueError(f"need one box per image: {n} images, {len(boxes)} boxes")
    for b in boxes:
        if not (0 <= b.top < b.bottom <= height and 0 <= b.left < b.right <= width):
            raise ValueError(f"box {b} is empty or leaves the {height}x{width} image")
    return boxes


def occlude(images: torch.Tensor, boxes, fill: float = 0.0) -> torch.Tensor:
    """A copy of ``images`` (N, C, H, W) with ``boxes[i]`` of image i set to ``fill``."""
    check_images(images)
    boxes = check_boxes(boxes, len(images), *images.shape[-2:])
    out = images.clone()
    for i, b in enumerate(boxes):
        out[i, :, b.top:b.bottom, b.left:b.right] = fill
    return out


def sign_disagreement(changes: torch.Tensor) -> torch.Tensor:
    """(N, D) feature changes -> (N (N - 1) / 2,) share of features whose signs differ,
    for each pair i < j in the order (0, 1), (0, 2), ..., (N - 2, N - 1)."""
    if changes.dim() != 2 or len(changes) < 2:
        raise ValueError(f"need the changes of at least 2 images as (N, D), got {tuple(changes.shape)}")
    s = torch.sign(changes)
    i, j = torch.triu_indices(len(s), len(s), offset=1)
    return (s[i] != s[j]).float().mean(1)


def _changes(model: nn.Module, images: torch.Tensor, box_sets: list, names: list[str], fill: float,
             batch: int = 64) -> list[dict[str, torch.Tensor]]:
    """``feature_changes`` for each set of boxes in ``box_sets``: the originals run once, and
    the masked images of all the sets together, ``batch`` at a time (a page's 21 sets of 5
    pictures in two forward passes instead of 42)."""
    hidden = torch.cat([occlude(images, boxes, fill) for boxes in box_sets])
    with torch.no_grad():
        a = activations(model, images, names)
        parts = [activations(model, hidden[i:i + batch], names) for i in range(0, len(hidden), batch)]
    b = {n: torch.cat([p[n] for p in parts]) for n in names}
    n = len(images)
    return [{name: (a[name] - b[name][k * n:(k + 1) * n]).flatten(1).float().cpu() for name in names}
            for k in range(len(box_sets))]


def _names(model: nn.Module, layers) -> list[str]:
    if layers is None:
        layers = (role(model, "last_conv"), role(model, "penultimate"))
    return [check_layer(model, n) for n in ([layers] if isinstance(layers, str) else layers)]


def _measure(eps: dict[str, torch.Tensor]) -> dict[str, Correspondence]:
    return {n: Correspondence(n, sign_disagreement(e), (e != 0).float().mean(1)) for n, e in eps.items()}


@takes_any_net
def feature_changes(model: nn.Module, images: torch.Tensor, boxes, layers, fill: float = 0.0
                    ) -> dict[str, torch.Tensor]:
    """{layer: (N, D)} eps_i = features(original_i) - features(occluded_i), flattened, float32 on the CPU."""
    return _changes(model, images, [boxes], _names(model, layers), fill)[0]


@takes_any_net
def correspondence(model: nn.Module, images: torch.Tensor, boxes, layers=None, fill: float = 0.0
                   ) -> dict[str, Correspondence]:
    """ZF 4.3: sign disagreement of the feature changes when ``boxes`` (one per image) are masked.

    ``layers`` default to the net's ``last_conv`` and ``penultimate`` roles (ZF's layers 5 and 7).
    """
    return _measure(feature_changes(model, images, boxes, layers, fill))


def random_boxes(boxes, height: int, width: int, generator: torch.Generator | None = None) -> list[Box]:
    """Boxes of the same sizes as ``boxes`` at uniformly random positions inside the image."""
    out = []
    for b in boxes:
        h, w = b.size
        top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
        out.append(Box(top, left, top + h, left + w))
    return out


@takes_any_net
def correspondence_table(model: nn.Module, images: torch.Tensor, parts: dict, layers=None,
                         random_trials: int = 10, seed: int = 0, fill: float = 0.0) -> dict:
    """ZF Table 1: {part: {layer: Correspondence}} for each named set of boxes in ``parts``,
    plus "random": boxes of the first part's sizes at random positions, ``random_trials``
    draws pooled (their pairs concatenated), seeded by ``seed``."""
    if not parts:
        raise ValueError("give at least one part: {name: one box per image}")
    g = torch.Generator().manual_seed(seed)
    sizes = next(iter(parts.values()))
    drawn = [random_boxes(sizes, *images.shape[-2:], g) for _ in range(max(random_trials, 0))]
    measured = [_measure(eps) for eps in _changes(model, images, list(parts.values()) + drawn,
                                                    _names(model, layers), fill)]
    table = dict(zip(parts, measured))
    if drawn:
        draws = measured[len(parts):]
        table["random"] = {n: Correspondence(n, torch.cat([d[n].pairs for d in draws]),
                                             torch.stack([d[n].changed for d in draws]).mean(0))
                           for n in draws[0]}
    return table
