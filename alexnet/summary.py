"""The layer table of AK Fig. 2: output size, parameters and multiply-adds per layer.

Walks the model's named stages (``model.layer_names``) and does the size
arithmetic each layer does, ``out = floor((W - F + 2P) / S) + 1``, so the
table shows where 224 -> 55 -> 27 -> 13 -> 6 comes from. Works on a model
built on the ``meta`` device (no memory, no weights needed).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .lrn import LocalResponseNorm
from .stages import StagedNet, stage_geometry

KINDS = {nn.Conv2d: "conv", nn.Linear: "fc", nn.MaxPool2d: "max-pool", nn.Flatten: "flatten",
         nn.Dropout: "dropout", nn.ReLU: "ReLU", nn.Tanh: "tanh",
         LocalResponseNorm: "LRN", nn.LocalResponseNorm: "LRN"}


@dataclass(frozen=True)
class LayerRow:
    """One named stage of the net."""

    name: str
    kind: str  # "conv", "fc", "max-pool", "LRN", "ReLU", "tanh", "dropout", "flatten"
    shape: tuple[int, ...]  # output per image: (C, H, W) or (features,)
    size_formula: str  # the arithmetic behind the output side, "" where the side is unchanged
    params: int
    macs: int  # multiply-adds per image (conv and fc only, as torchvision counts FLOPs)
    towers: str  # which tower(s) the layer's inputs come from (AK 3.2)
    detail: str  # kernel, stride, padding, ...


def _side(w: int, f: int, p: int, s: int) -> tuple[int, str]:
    out = (w - f + 2 * p) // s + 1
    exact = (w - f + 2 * p) % s == 0
    body = f"({w} - {f} + 2·{p})/{s}"
    return out, (f"{body} + 1 = {out}" if exact else f"⌊{body}⌋ + 1 = {out}")


def _towers_of(model: StagedNet, name: str, module: nn.Module) -> str:
    t = model.roles.towers
    first = model.roles.first_conv
    if t == 1:
        return "one tower"
    if isinstance(module, nn.Conv2d) and module.groups == t and name != first:
        return "own tower only"
    if name in model.roles.crossings:
        return "both towers (they talk)"
    if name == first:
        return "each tower sees the image"
    return "within each tower" if name.startswith("lrn") else "each tower"


def layer_table(model: StagedNet) -> list[LayerRow]:
    """One row per named stage, input to output, for one image of the model's input size."""
    side = model.input_size
    shape: tuple[int, ...] = (3, side, side)
    rows = []
    for name in model.layer_names:
        m = model.layer(name)
        kind = next((k for cls, k in KINDS.items() if isinstance(m, cls)), type(m).__name__)
        formula, detail, macs = "", "", 0
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            f, s, p = (v[0] for v in stage_geometry(m))
            out, formula = _side(shape[-1], f, p, s)
            channels = m.out_channels if isinstance(m, nn.Conv2d) else shape[0]
            detail = f"{f}x{f}, stride {s}, padding {p}"
            if isinstance(m, nn.Conv2d):
                per_kernel = m.in_channels // m.groups * f * f  # each tower's kernels see C_in/groups maps
                macs = channels * out * out * per_kernel
                detail = f"{channels} kernels {f}x{f}x{m.in_channels // m.groups}, stride {s}, padding {p}"
            shape = (channels, out, out)
        elif isinstance(m, nn.Flatten):
            shape = (shape[0] * shape[1] * shape[2],)
        elif isinstance(m, nn.Linear):
            macs = m.in_features * m.out_features
            shape = (m.out_features,)
            detail = f"{m.in_features} -> {m.out_features}"
        elif isinstance(m, nn.Dropout):
            detail = f"p = {m.p}"
        elif kind == "LRN":
            detail = f"n={m.size}, α={m.alpha:g}, β={m.beta:g}, k={m.k:g}"
        params = sum(p.numel() for p in m.parameters())
        rows.append(LayerRow(name, kind, shape, formula, params, macs,
                             _towers_of(model, name, m), detail))
    return rows


def totals(rows: list[LayerRow]) -> tuple[int, int]:
    """(parameters, multiply-adds) of the whole net."""
    return sum(r.params for r in rows), sum(r.macs for r in rows)
