"""conv1 kernels per tower and how colour-specific they are (AK Fig. 3).

AK 6.1, Fig. 3: of the 96 conv1 kernels, the 48 on GPU 1 are largely
colour-agnostic (oriented edges, frequencies) and the 48 on GPU 2 largely
colour-specific (colour blobs), on every run. ``conv1_grids`` lays the
kernels out for drawing; ``colour_specificity`` puts a number on the split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._layers import takes_any_alexnet


def normalise_kernels(kernels: torch.Tensor) -> torch.Tensor:
    """Each (3, k, k) kernel min-max scaled to [0, 1] over all its colours (a flat one -> 0.5)."""
    w = kernels.detach().float()
    lo = w.flatten(1).amin(1)[:, None, None, None]
    hi = w.flatten(1).amax(1)[:, None, None, None]
    span = hi - lo
    return torch.where(span > 0, (w - lo) / span.clamp_min(1e-12), torch.full_like(w, 0.5))


def kernel_grid(kernels: torch.Tensor, cols: int = 16, padding: int = 1,
                pad_value: float = 1.0) -> torch.Tensor:
    """(N, 3, k, k) kernels -> one (3, H, W) image, row-major, ``cols`` kernels a row.

    Kernel i sits at row i // cols, column i % cols, its top-left corner at
    (padding + row * (k + padding), padding + col * (k + padding)); the grid is
    rows * (k + padding) + padding high (the layout of torchvision's make_grid).
    Each kernel is min-max normalised on its own, as AK Fig. 3 is drawn.
    """
    if kernels.dim() != 4 or len(kernels) == 0:
        raise ValueError(f"expected (N, C, k, k) kernels with N >= 1, got shape {tuple(kernels.shape)}")
    if cols < 1 or padding < 0:
        raise ValueError(f"cols must be >= 1 and padding >= 0, got cols={cols}, padding={padding}")
    n, c, kh, kw = kernels.shape
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (kh + padding) + padding, cols * (kw + padding) + padding), float(pad_value))
    for i, k in enumerate(normalise_kernels(kernels)):
        top = padding + (i // cols) * (kh + padding)
        left = padding + (i % cols) * (kw + padding)
        grid[:, top:top + kh, left:left + kw] = k
    return grid


@takes_any_alexnet
def conv1_grids(model, cols: int = 16, padding: int = 1, pad_value: float = 1.0) -> tuple[torch.Tensor, ...]:
    """One (3, H, W) grid of conv1 kernels per tower (AK Fig. 3: tower A above, B below)."""
    return tuple(kernel_grid(w.cpu(), cols, padding, pad_value) for w in model.conv1_weights_by_tower())


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


@takes_any_alexnet
def tower_colour(model, threshold: float = 0.5) -> list[TowerColour]:
    """Colour specificity of conv1 per tower (AK Fig. 3 predicts tower B >> tower A)."""
    out = []
    for t, w in enumerate(model.conv1_weights_by_tower()):
        s = colour_specificity(w.cpu())
        out.append(TowerColour(t, s, float(s.mean()), float(s.quantile(0.5)),
                               float((s > threshold).float().mean()), threshold))
    return out


@takes_any_alexnet
def tower_summary(model, threshold: float = 0.5) -> list[dict]:
    """``tower_colour`` as JSON-ready dicts (used by ``alexnet.export`` for the manifest)."""
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


@takes_any_alexnet
def tower_split_test(model, permutations: int = 10_000, seed: int = 0) -> SplitTest | None:
    """``split_test`` on conv1's colour specificity, tower A vs B; None for a one-tower net."""
    towers = tower_colour(model)
    if len(towers) != 2:
        return None
    return split_test(towers[0].scores, towers[1].scores, permutations, seed)
