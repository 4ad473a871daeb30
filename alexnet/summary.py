"""The layer table of AK Fig. 2: output size, parameters, multiply-adds and
receptive field per layer, for any registered net.

    python -m alexnet.summary zfnet          # or alexnet, alexnet_cifar, zfnet_cifar, ...

Walks the model's named stages (``model.layer_names``) and does the size
arithmetic each layer does, ``out = floor((W - F + 2P) / S) + 1``, so the
table shows where 224 -> 55 -> 27 -> 13 -> 6 comes from. Works on a model
built on the ``meta`` device (no memory, no weights needed).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .lrn import LocalResponseNorm
from .stages import StagedNet, feature_layers, stage_geometry

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
    receptive_field: int = 0  # input pixels one output unit sees (side); 0 past the spatial stages
    jump: int = 0  # input pixels between neighbouring output units (the product of the strides)


def receptive_fields(model: StagedNet) -> dict[str, tuple[int, int]]:
    """(receptive field side, jump) after each spatial stage, from its kernel/stride.

    A stage with kernel k and stride s on a map whose units are ``jump`` input
    pixels apart and see ``rf`` pixels: rf' = rf + (k - 1) * jump, jump' = jump * s
    (padding moves the field, it does not widen it).
    """
    rf, jump, out = 1, 1, {}
    for name in feature_layers(model):
        (k, _), (s, _), _ = stage_geometry(model.layer(name))
        rf, jump = rf + (k - 1) * jump, jump * s
        out[name] = (rf, jump)
    return out


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
    fields = receptive_fields(model)
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
        rf, jump = fields.get(name, (0, 0))
        rows.append(LayerRow(name, kind, shape, formula, params, macs,
                             _towers_of(model, name, m), detail, rf, jump))
    return rows


def totals(rows: list[LayerRow]) -> tuple[int, int]:
    """(parameters, multiply-adds) of the whole net."""
    return sum(r.params for r in rows), sum(r.macs for r in rows)


def format_table(rows: list[LayerRow]) -> str:
    """The layer table as fixed-width text (``python -m alexnet.summary``)."""
    head = f"{'layer':8s} {'kind':9s} {'output':>16s} {'params':>12s} {'mult-adds':>15s} {'RF':>5s}  detail"
    lines = [head, "-" * len(head)]
    for r in rows:
        rf = f"{r.receptive_field}" if r.receptive_field else ""
        lines.append(f"{r.name:8s} {r.kind:9s} {' x '.join(map(str, r.shape)):>16s} {r.params:>12,d} "
                     f"{r.macs:>15,d} {rf:>5s}  {r.detail}")
    params, macs = totals(rows)
    lines.append(f"total: {params:,d} parameters, {macs:,d} multiply-adds per image")
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse

    import torch

    from .registry import build_model, models

    p = argparse.ArgumentParser(prog="python -m alexnet.summary",
                                description="the layer table of a registered net (no weights needed)")
    p.add_argument("net", choices=list(models()), help="a registered net")
    p.add_argument("--classes", type=int, default=None, help="number of classes (default: the net's own)")
    a = p.parse_args(argv)
    with torch.device("meta"):  # shapes only: no memory, no weights
        model = build_model(a.net, **({"num_classes": a.classes} if a.classes else {}))
    print(f"{a.net}: {models()[a.net].title}, {model.input_size}x{model.input_size} input")
    print(format_table(layer_table(model)))


if __name__ == "__main__":
    main()
