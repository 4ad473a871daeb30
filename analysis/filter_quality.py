"""How clean a conv layer's kernels are, in numbers (ZF 4.1, Fig. 6).

ZF Fig. 6 reads AlexNet's first layers by eye: conv1 (11x11, stride 4) is
"a mix of extremely high and low frequency information, with little
coverage of the mid frequencies", with some "dead" features, and conv2 shows
"aliasing artifacts caused by the large stride 4 used in the 1st layer
convolutions". ZFNet's (7x7, stride 2) are cleaner. Three numbers for any net:

- **dead**: a kernel whose RMS is below ``dead_below`` (10%) of the layer's
  median kernel RMS. Training left it near zero; it passes almost nothing.
- **high-frequency share**: of a kernel's energy (its 2D DFT, summed over input
  channels; Parseval makes it the kernel's squared norm), the share at
  frequencies above half the pixel grid's Nyquist frequency, i.e. with
  max(|f_y|, |f_x|) > 0.25 cycles per pixel. A constant kernel has none, a
  checkerboard (f = 0.5 on both axes) has all of it.
- **aliasing** (for the layer after): conv1's output is sampled every ``stride``
  pixels, so its Nyquist frequency is 1 / (2 stride). Kernel energy at
  max(|f_y|, |f_x|) > 1 / (2 stride) folds back to lower frequencies in the
  map that conv2 reads. At stride 4 that is everything above 0.125 cycles per
  pixel; at stride 2, above 0.25; at stride 1, nothing.

The band is the square max(|f_y|, |f_x|) because sampling folds each axis on
its own. The DFT is of the kernel itself, unpadded: exact for the
frequencies the k x k grid holds (an even-sided checkerboard is exactly f = 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from alexnet.stages import layer as stage_module

from ._layers import check_layer, feature_layers, role, takes_any_net

DEAD_BELOW = 0.1  # of the layer's median kernel RMS
HALF_NYQUIST = 0.25  # cycles per pixel: half of the pixel grid's 0.5


def conv_layers(model: nn.Module) -> tuple[str, ...]:
    """The spatial stages that are convolutions, input to output (conv1, conv2, ...)."""
    return tuple(n for n in feature_layers(model) if isinstance(stage_module(model, n), nn.Conv2d))


def band(size: tuple[int, int]) -> torch.Tensor:
    """(kh, kw) max(|f_y|, |f_x|) of each DFT bin of a kh x kw kernel, in cycles per pixel."""
    fy = torch.fft.fftfreq(size[0]).abs()[:, None]
    fx = torch.fft.fftfreq(size[1]).abs()[None, :]
    return torch.maximum(fy.expand(size), fx.expand(size))


def spectrum(kernels: torch.Tensor) -> torch.Tensor:
    """(C_out, kh, kw) energy |DFT|^2 of each kernel, summed over its input channels."""
    w = kernels.detach().to("cpu", torch.float64)
    return torch.fft.fft2(w).abs().square().sum(1)


def energy_above(kernels: torch.Tensor, cutoff: float) -> torch.Tensor:
    """(C_out,) share of each kernel's energy at max(|f_y|, |f_x|) > cutoff; 0 for a zero kernel."""
    e = spectrum(kernels)
    high = e[:, band(tuple(e.shape[-2:])) > cutoff + 1e-12].sum(-1)
    total = e.flatten(1).sum(-1)
    return torch.where(total > 0, high / total.clamp_min(1e-300), torch.zeros_like(total)).float()


def mean_frequency(kernels: torch.Tensor) -> torch.Tensor:
    """(C_out,) energy-weighted mean of max(|f_y|, |f_x|) per kernel (0 for a zero kernel)."""
    e = spectrum(kernels)
    f = band(tuple(e.shape[-2:])).double()
    total = e.flatten(1).sum(-1)
    return torch.where(total > 0, (e * f).flatten(1).sum(-1) / total.clamp_min(1e-300),
                       torch.zeros_like(total)).float()


def kernel_rms(kernels: torch.Tensor) -> torch.Tensor:
    """(C_out,) root mean square of each kernel's weights."""
    return kernels.detach().to("cpu", torch.float64).flatten(1).square().mean(1).sqrt().float()


def dead_filters(kernels: torch.Tensor, dead_below: float = DEAD_BELOW) -> torch.Tensor:
    """(C_out,) bool: RMS below ``dead_below`` times the layer's median kernel RMS (or exactly 0)."""
    rms = kernel_rms(kernels)
    return (rms < dead_below * rms.median()) | (rms == 0)


@dataclass
class FilterQuality:
    """ZF Fig. 6 in numbers for one conv layer."""

    layer: str
    stride: int  # the conv's stride (rows)
    rms: torch.Tensor  # (C_out,) kernel RMS
    dead: torch.Tensor  # (C_out,) bool, see ``dead_filters``
    high_share: torch.Tensor  # (C_out,) energy share above HALF_NYQUIST
    mean_frequency: torch.Tensor  # (C_out,) energy-weighted max(|f_y|, |f_x|), cycles per pixel
    aliased_share: torch.Tensor  # (C_out,) energy share above 1 / (2 stride): folds in the next layer

    @property
    def dead_fraction(self) -> float:
        return float(self.dead.float().mean())

    @property
    def high_fraction(self) -> float:
        """Mean high-frequency share over the live kernels."""
        live = ~self.dead
        return float(self.high_share[live].mean()) if live.any() else 0.0

    @property
    def aliased_fraction(self) -> float:
        """Mean aliased share over the live kernels."""
        live = ~self.dead
        return float(self.aliased_share[live].mean()) if live.any() else 0.0


@takes_any_net
def filter_quality(model: nn.Module, layer: str | None = None, dead_below: float = DEAD_BELOW,
                   cutoff: float = HALF_NYQUIST) -> FilterQuality:
    """Dead kernels, high-frequency and aliased energy of conv ``layer`` (default: the first conv).

    Reads weights only (CPU, float32 results); the model is not run or changed.
    """
    name = check_layer(model, role(model, "first_conv", layer), conv_layers(model))
    conv = stage_module(model, name)
    w = conv.weight
    stride = conv.stride[0]
    return FilterQuality(name, stride, kernel_rms(w), dead_filters(w, dead_below), energy_above(w, cutoff),
                         mean_frequency(w), energy_above(w, 1.0 / (2 * stride)))


@takes_any_net
def layer_quality(model: nn.Module, layers=None) -> list[FilterQuality]:
    """``filter_quality`` of the first two conv layers (ZF Fig. 6 shows conv1 and conv2), or ``layers``."""
    names = list(layers) if layers is not None else list(conv_layers(model)[:2])
    return [filter_quality(model, n) for n in names]
