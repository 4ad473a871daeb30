"""What a layer outputs for a batch of images, and per-channel summaries to show."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._layers import activations, check_images, check_layer, takes_any_net


@takes_any_net
def feature_maps(model, images: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of ``layer`` for ``images``: (B, C, H, W) for conv stages, (B, units) for fc.

    No autograd graph is kept; the model's mode is the caller's (dropout
    stages act as in that mode).
    """
    return layer_outputs(model, images, [layer])[layer]


@takes_any_net
def layer_outputs(model, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
    """Outputs of several named layers in one forward pass (it stops at the deepest)."""
    check_images(images)
    wanted = [layers] if isinstance(layers, str) else list(layers)
    if not wanted:
        raise ValueError("name at least one layer")
    for name in wanted:
        check_layer(model, name)
    with torch.no_grad():
        return activations(model, images, wanted)


@dataclass
class ChannelSummary:
    """Per image and channel, the mean and the max of the channel's map."""

    mean: torch.Tensor  # (B, C)
    max: torch.Tensor  # (B, C)

    def strongest(self, k: int = 8) -> torch.Tensor:
        """(B, k) channels with the largest maxima, best first (for picking maps to show)."""
        return self.max.topk(min(k, self.max.shape[1]), dim=1).indices


def channel_summary(maps: torch.Tensor) -> ChannelSummary:
    """Summarise (B, C, H, W) maps per channel; (B, C) fc outputs are their own mean and max."""
    if maps.dim() == 2:
        return ChannelSummary(maps, maps)
    if maps.dim() != 4:
        raise ValueError(f"expected (B, C, H, W) maps or (B, C) units, got shape {tuple(maps.shape)}")
    flat = maps.flatten(2)  # (B, C, H*W)
    return ChannelSummary(flat.mean(2), flat.amax(2))
