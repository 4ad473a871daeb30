"""conv1 kernels per tower and how colour-specific they are (AK Fig. 3).

AK 6.1, Fig. 3: of the 96 conv1 kernels, the 48 on GPU 1 are largely
colour-agnostic (oriented edges, frequencies) and the 48 on GPU 2 largely
colour-specific (colour blobs), on every run. ``conv1_grids`` lays the
kernels out for drawing; ``colour_specificity`` puts a number on the split.
"""

from __future__ import annotations

import math

import torch

from alexnet.colour import (SplitTest, TowerColour, colour_specificity, kernels_by_tower, split_test,  # noqa: F401
                            tower_colour as _tower_colour, tower_split_test as _tower_split_test)

from ._layers import takes_any_net


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


@takes_any_net
def conv1_grids(model, cols: int = 16, padding: int = 1, pad_value: float = 1.0) -> tuple[torch.Tensor, ...]:
    """One (3, H, W) grid of conv1 kernels per tower (AK Fig. 3: tower A above, B below)."""
    return tuple(kernel_grid(w.cpu(), cols, padding, pad_value) for w in kernels_by_tower(model))


@takes_any_net
def tower_colour(model, threshold: float = 0.5, layer: str | None = None) -> list[TowerColour]:
    """Colour specificity of ``layer`` (default: the first conv) per tower (AK Fig. 3 predicts
    tower B >> tower A)."""
    return _tower_colour(model, threshold, layer)


@takes_any_net
def tower_summary(model, threshold: float = 0.5) -> list[dict]:
    """``tower_colour`` as JSON-ready dicts."""
    return [t.to_dict() for t in _tower_colour(model, threshold)]


@takes_any_net
def tower_split_test(model, permutations: int = 10_000, seed: int = 0) -> SplitTest | None:
    """``split_test`` on the first conv's colour specificity, tower A vs B; None for a one-tower net."""
    return _tower_split_test(model, permutations, seed)


__all__ = ["SplitTest", "TowerColour", "colour_specificity", "conv1_grids", "kernel_grid", "kernels_by_tower",
           "normalise_kernels", "split_test", "tower_colour", "tower_split_test", "tower_summary"]
