"""Every feature map of a layer for a picture, strongest first, tower by tower.

The Deep Visualization Toolbox's main view (Yosinski et al. 2015, section 2):
all of a layer's maps at once for the current picture. Maps are ranked by
their maximum, the activation the deconvnet projects (ZF 2.1). Where the net
has two towers (AK 3.2) each tower is ranked on its own, since its maps were
computed on a different GPU and see only their own tower below conv3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._layers import check_images, check_layer, feature_layers, takes_any_alexnet
from .activations import channel_summary, layer_outputs


@dataclass
class ActivationGrid:
    """One layer's maps for a batch, with the order to show them in."""

    layer: str
    maps: torch.Tensor  # (B, C, h, w)
    strength: torch.Tensor  # (B, C) each map's maximum
    towers: list[range]  # the channels of each tower, in channel order
    order: list[torch.Tensor]  # per tower, (B, C_tower) its channels strongest first


def tower_channels(model, layer: str) -> list[range]:
    """The channels of ``layer`` per tower (one range for a one-tower net)."""
    count = getattr(getattr(model, "config", None), "towers", 1)
    if count < 2 or not hasattr(model, "tower_slice"):
        maps = None
        for name, m in model.features.named_children():
            maps = getattr(m, "out_channels", maps)
            if name == layer:
                return [range(maps)]
    out = []
    for t in range(count):
        s = model.tower_slice(layer, t)
        out.append(range(s.start, s.stop))
    return out


@takes_any_alexnet
def activation_grid(model, images: torch.Tensor, layer: str) -> ActivationGrid:
    """All maps of spatial ``layer`` for ``images``, each tower's ranked by maximum (strongest first)."""
    check_images(images)
    check_layer(model, layer, feature_layers(model))
    maps = layer_outputs(model, images, [layer])[layer]  # (B, C, h, w)
    strength = channel_summary(maps).max  # (B, C)
    towers = tower_channels(model, layer)
    order = []
    for r in towers:
        idx = torch.arange(r.start, r.stop, device=maps.device)
        order.append(idx[strength[:, r.start:r.stop].argsort(dim=1, descending=True, stable=True)])
    return ActivationGrid(layer, maps, strength, towers, order)
