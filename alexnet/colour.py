"""How colour-specific a net's first-layer kernels are, per tower (AK 6.1, Fig. 3).

AK: of the 96 conv1 kernels, the 48 on GPU 1 are largely colour-agnostic and
the 48 on GPU 2 largely colour-specific. ``colour_specificity`` puts a
number on it; ``alexnet.export`` writes it into the shipped model's manifest,
and ``analysis.filters`` shows it (it re-exports these).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .torchvision_net import as_staged
from .stages import check_layer, feature_layers, role, roles, tower_slice
from .stages import layer as stage


def kernels_by_tower(model, layer: str | None = None) -> tuple[torch.Tensor, ...]:
    """The kernels of ``layer`` (default: the net's ``first_conv`` role) per tower (AK 3.2),
    each (C_out / towers, C_in, k, k), detached."""
    name = role(model, "first_conv", layer)
    conv = stage(model, check_layer(model, name, feature_layers(model)))
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"{name!r} is a {type(conv).__name__}, not a conv stage: name a conv layer")
    w = conv.weight.detach()
    return tuple(w[tower_slice(model, name, t)] for t in range(roles(model).towers))


def colour_specificity(kernels: torch.Tensor) -> torch.Tensor:
    """Per kernel, the share of its energy that is not grey: (N, 3, k, k) -> (N,) in [0, 1].

        score = 1 - ||g||^2 / ||w||^2,   g[c, y, x] = mean over colours of w[:, y, x]

    g is the kernel's achromatic part (the same value in R, G and B at every
    pixel); w - g is orthogonal to it, so the score is the chromatic share of
    the energy. A grey-level kernel (edge, grating) scores 0; a colour-opponent
    one (R = -G, B = 0) scores 1; a kernel seeing only one colour scores 2/3;
    a kernel of independent noise per colour also averages 2/3 (the untrained
    baseline). Energy, not amplitude, so the score ignores the kernel's scale.
    """
    w = kernels.detach().double().flatten(2)  # (N, 3, k*k)
    grey = w.mean(dim=1, keepdim=True).expand_as(w)  # (N, 3, k*k)
    total = w.square().sum((1, 2))
    return (1 - grey.square().sum((1, 2)) / total.clamp_min(1e-300)).where(total > 0, 0.0).float()


@dataclass
class TowerColour:
    """The colour-specificity scores of one tower's conv1 kernels, summarised."""

    tower: int
    scores: torch.Tensor  # (kernels,)
    mean: float
    median: float
    fraction_above: float  # share of kernels scoring above ``threshold``
    threshold: float

    def to_dict(self) -> dict:
        """Plain numbers, for JSON (the shipped model's manifest)."""
        return {"tower": self.tower, "kernels": len(self.scores), "mean": round(self.mean, 4),
                "median": round(self.median, 4), "fraction_above": round(self.fraction_above, 4),
                "threshold": self.threshold}


def tower_colour(model, threshold: float = 0.5, layer: str | None = None) -> list[TowerColour]:
    """Colour specificity of ``layer``'s kernels (default: the first conv) per tower
    (AK Fig. 3 predicts tower B >> tower A)."""
    out = []
    for t, w in enumerate(kernels_by_tower(model, layer)):
        s = colour_specificity(w.cpu())
        out.append(TowerColour(t, s, float(s.mean()), float(s.quantile(0.5)),
                               float((s > threshold).float().mean()), threshold))
    return out


def tower_summary(model, threshold: float = 0.5) -> list[dict]:
    """``tower_colour`` as JSON-ready dicts (``alexnet.export`` writes them to the manifest)."""
    return [t.to_dict() for t in tower_colour(model, threshold)]


@dataclass
class SplitTest:
    """Is one tower more colour-specific than the other, beyond chance?"""

    difference: float  # mean score of tower B minus tower A
    p_value: float  # two-sided: kernels shuffled between the towers at random
    permutations: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def split_test(a: torch.Tensor, b: torch.Tensor, permutations: int = 10_000, seed: int = 0) -> SplitTest:
    """Permutation test of mean(b) - mean(a): how often a random relabelling of
    the pooled scores gives a gap at least as large (p = (hits + 1) / (n + 1))."""
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    pooled = torch.cat([a, b]).double()
    observed = float(b.double().mean() - a.double().mean())
    g = torch.Generator().manual_seed(seed)
    order = torch.rand(permutations, len(pooled), generator=g).argsort(1)  # one shuffle per row
    shuffled = pooled[order]
    gaps = shuffled[:, len(a):].mean(1) - shuffled[:, :len(a)].mean(1)
    hits = int((gaps.abs() >= abs(observed) - 1e-12).sum())
    return SplitTest(observed, (hits + 1) / (permutations + 1), permutations)


def tower_split_test(model, permutations: int = 10_000, seed: int = 0) -> SplitTest | None:
    """``split_test`` on the first conv's colour specificity, tower A vs B; None for a one-tower net."""
    towers = tower_colour(model)
    if len(towers) != 2:
        return None
    return split_test(towers[0].scores, towers[1].scores, permutations, seed)
