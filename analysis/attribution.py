"""Which pixels a class score or one unit depends on: five methods side by side.

All five send a signal from one scalar (a class logit, or one unit of a
layer) down to the pixels. They differ in how the signal passes a ReLU,
which is the lesson (Springenberg et al. 2015, Fig. 1; Simonyan et al. 2014, 4):

- deconvnet (Zeiler & Fergus 2014, 2.1): relu of the signal coming down,
  whatever the forward input was;
- saliency (Simonyan et al. 2014, 3.1): the gradient, |dy/dx|: the signal
  passes where the forward input was positive, whatever its own sign;
- guided backprop (Springenberg et al. 2015, 3.4): both: only positive
  signal, and only where the forward input was positive;
- Grad-CAM (Selvaraju et al. 2017, 3): the gradient down to the last conv
  layer only; each map is weighted by its mean gradient, summed, rectified;
- integrated gradients (Sundararajan et al. 2017, 3): the gradient averaged
  along the straight path from a baseline (the mean image) to the picture,
  times (picture - baseline); the attributions add up to F(x) - F(baseline).

captum computes them (``Deconvolution``, ``GuidedBackprop``, ``Saliency``,
``LayerGradCam``, ``IntegratedGradients``) through the named stages; it
registers its hooks in ``try`` and removes them in ``finally``. captum's
deconvnet differentiates LRN, which ZF skip (``analysis.deconv`` follows ZF),
and it goes on through the fc layers, which ZF never projected.

The target: ``layer=None`` means the logit of class ``target``; otherwise
unit ``target`` of ``layer``, for spatial maps at its strongest position in
each image (as the deconvnet page projects) unless ``position`` is given.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ._layers import (check_channel, check_images, check_layer, feature_layers, forward_to, num_channels,
                      stages, takes_any_alexnet)

METHODS = ("deconvnet", "guided_backprop", "saliency", "gradcam", "integrated_gradients")
TITLES = {"deconvnet": "Deconvnet", "guided_backprop": "Guided backprop", "saliency": "Saliency",
          "gradcam": "Grad-CAM", "integrated_gradients": "Integrated gradients"}
RELU_RULE = {
    "deconvnet": "passes the signal coming down through a ReLU (negative signal stops), "
                 "whatever the forward input was (ZF 2.1).",
    "guided_backprop": "both rules at once: the signal must be positive and the forward input "
                       "must have been positive (Springenberg et al. 2015).",
    "saliency": "the gradient: the signal passes where the forward input was positive, whatever "
                "its own sign; shown as |gradient|, largest over colours (Simonyan et al. 2014).",
    "gradcam": "the gradient, but only down to the last conv layer: each of its maps is weighted "
               "by its mean gradient, the sum rectified and upsampled (Selvaraju et al. 2017).",
    "integrated_gradients": "the gradient, averaged along a straight path from the mean image "
                            "to the picture, so ReLUs switch on along the way; the attributions "
                            "add up to the score's change (Sundararajan et al. 2017).",
}
RECTIFIERS = (nn.ReLU, nn.Tanh)


@dataclass
class Attribution:
    """One method's answer for a batch."""

    method: str
    pixels: torch.Tensor  # (B, C, H, W) signed attributions; Grad-CAM: (B, 1, H, W), upsampled
    heat: torch.Tensor  # (B, H, W) one non-negative map per image, to draw
    layer: str | None  # None: a class logit
    target: torch.Tensor  # (B,) the class, or the channel
    position: torch.Tensor | None  # (B, 2) the unit's (y, x) in a spatial map, else None


class _UpTo(nn.Module):
    """The stages from the image up to ``layer``, flattened to (B, N): one index per unit.

    A module (not a function) so captum's ReLU overrides find the net's ReLUs in it.
    """

    def __init__(self, model: nn.Module, layer: str):
        super().__init__()
        self.net, self.layer = model, layer

    def forward(self, x):
        return forward_to(self.net, x, self.layer).flatten(1)


def _last_stage(model) -> str:
    return stages(model)[-1][0]


def _targets(model, images, target, layer, position):
    """(stage to run up to, per-image flat index into its output, channels, positions)."""
    b = len(images)
    chosen = torch.as_tensor(target, dtype=torch.long).flatten().to(images.device)
    if chosen.numel() == 1:
        chosen = chosen.expand(b)
    if chosen.numel() != b:
        raise ValueError(f"target must be one index or one per image ({b}), got {chosen.numel()}")
    if layer is None:
        last = _last_stage(model)
        n = num_channels(model, last)  # the logits' width, read off the last layer
        if (chosen < 0).any() or (chosen >= n).any():
            raise ValueError(f"target must be a class index in [0, {n}), got {chosen.tolist()}")
        return last, chosen, chosen, None
    check_layer(model, layer)
    for c in chosen.tolist():
        check_channel(model, layer, c)
    with torch.no_grad():
        a = forward_to(model, images, layer)  # (B, C, h, w) or (B, C)
    if a.dim() == 2:
        return layer, chosen, chosen, None
    _, _, h, w = a.shape
    rows = torch.arange(b, device=images.device)
    if position is None:
        flat = a[rows, chosen].flatten(1).argmax(1)
        pos = torch.stack([flat // w, flat % w], 1)
    else:
        pos = torch.as_tensor(position, dtype=torch.long, device=images.device).reshape(-1, 2).expand(b, 2)
        if (pos < 0).any() or (pos[:, 0] >= h).any() or (pos[:, 1] >= w).any():
            raise ValueError(f"position must lie in the {h}x{w} map of {layer}")
    return layer, chosen * h * w + pos[:, 0] * w + pos[:, 1], chosen, pos


def _input(images):
    # A leaf of our own: captum then neither warns nor flips the caller's requires_grad.
    return images.detach().clone().requires_grad_(True)


def _check_relus(model, method):
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"{TITLES[method]} changes how ReLUs pass the signal; this net has no "
                         "ReLU stages (e.g. a tanh net): use saliency or integrated gradients")
    if any(m.inplace for m in relus):
        raise ValueError(f"{TITLES[method]} needs ReLU modules that are not in-place")


def _heat(pixels, how="sum"):
    a = pixels.abs()
    return a.amax(1) if how == "max" else a.sum(1)


def _relu_method(model, images, target, layer, position, method):
    from captum.attr import Deconvolution, GuidedBackprop

    check_images(images)
    _check_relus(model, method)
    stage, index, chosen, pos = _targets(model, images, target, layer, position)
    cls = Deconvolution if method == "deconvnet" else GuidedBackprop
    with warnings.catch_warnings():  # captum announces its ReLU hooks; they are the method
        warnings.filterwarnings("ignore", message=".*backward hooks.*")
        warnings.filterwarnings("ignore", message=".*hooks on ReLU.*")
        px = cls(_UpTo(model, stage)).attribute(_input(images), target=index.tolist())
    return Attribution(method, px.detach(), _heat(px.detach()), layer, chosen, pos)


@takes_any_alexnet
def deconvnet(model, images, target, layer=None, position=None) -> Attribution:
    """Deconvnet signal for class ``target`` (``layer=None``) or unit ``target`` of ``layer``."""
    return _relu_method(model, images, target, layer, position, "deconvnet")


@takes_any_alexnet
def guided_backprop(model, images, target, layer=None, position=None) -> Attribution:
    """Guided backpropagation: the deconvnet signal masked by the forward ReLUs."""
    return _relu_method(model, images, target, layer, position, "guided_backprop")


@takes_any_alexnet
def saliency(model, images, target, layer=None, position=None) -> Attribution:
    """|d target / d pixel| (Simonyan et al. 2014); ``heat`` is its largest value over colours."""
    from captum.attr import Saliency

    check_images(images)
    stage, index, chosen, pos = _targets(model, images, target, layer, position)
    px = Saliency(_UpTo(model, stage)).attribute(_input(images), target=index.tolist(), abs=True)
    return Attribution("saliency", px.detach(), _heat(px.detach(), "max"), layer, chosen, pos)


def cam_layer(model, below: str | None = None) -> str:
    """The deepest rectified conv stage (``act5`` in AlexNet), below ``below`` if given."""
    names = [n for n, _ in stages(model)]
    limit = names.index(check_layer(model, below)) if below is not None else len(names)
    mods = dict(model.features.named_children())
    found = [n for n in feature_layers(model) if isinstance(mods[n], RECTIFIERS) and names.index(n) < limit]
    if not found:
        raise ValueError(f"Grad-CAM needs a rectified conv layer below {below}: "
                         "choose a deeper unit, or a class")
    return found[-1]


@takes_any_alexnet
def gradcam(model, images, target, layer=None, position=None, at: str | None = None) -> Attribution:
    """Grad-CAM on conv stage ``at`` (default: ``cam_layer``), upsampled to the image (bilinear)."""
    from captum.attr import LayerAttribution, LayerGradCam

    check_images(images)
    at = cam_layer(model, layer) if at is None else check_layer(model, at, feature_layers(model))
    stage, index, chosen, pos = _targets(model, images, target, layer, position)
    names = [n for n, _ in stages(model)]
    if names.index(at) >= names.index(stage):
        raise ValueError(f"Grad-CAM at {at} needs a target above it, not in {stage}")
    module = dict(stages(model))[at]
    cam = LayerGradCam(_UpTo(model, stage), module).attribute(_input(images), target=index.tolist(),
                                                              relu_attributions=True)  # (B, 1, h, w)
    up = LayerAttribution.interpolate(cam.detach(), tuple(images.shape[-2:]), "bilinear")
    return Attribution("gradcam", up, up[:, 0].clamp(min=0), layer, chosen, pos)


@takes_any_alexnet
def integrated_gradients(model, images, target, layer=None, position=None, baseline=None,
                         steps: int = 64, batch_size: int | None = None) -> Attribution:
    """Integrated gradients from ``baseline`` (default: zeros, i.e. the dataset's mean image).

    Gauss-Legendre quadrature with ``steps`` points; the sum of the
    attributions approaches F(images) - F(baseline) as ``steps`` grows.
    """
    from captum.attr import IntegratedGradients

    check_images(images)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    stage, index, chosen, pos = _targets(model, images, target, layer, position)
    base = torch.zeros_like(images) if baseline is None else torch.as_tensor(baseline).to(images)
    px = IntegratedGradients(_UpTo(model, stage)).attribute(
        _input(images), baselines=base, target=index.tolist(), n_steps=steps,
        internal_batch_size=batch_size)
    return Attribution("integrated_gradients", px.detach(), _heat(px.detach()), layer, chosen, pos)


FUNCTIONS = {"deconvnet": deconvnet, "guided_backprop": guided_backprop, "saliency": saliency,
             "gradcam": gradcam, "integrated_gradients": integrated_gradients}


def attribute_all(model, images, target, layer=None, methods=METHODS, **options) -> dict:
    """Every method for the same target: {method: Attribution}, or {method: the reason it cannot run}.

    ``options`` go to the methods that take them (``steps``, ``baseline``, ``at``, ``position``).
    """
    out = {}
    for m in methods:
        fn = FUNCTIONS[m]
        accepted = inspect.signature(fn).parameters
        kw = {k: v for k, v in options.items() if k in accepted}
        try:
            out[m] = fn(model, images, target, layer=layer, **kw)
        except ValueError as e:  # e.g. Grad-CAM for a unit of conv1, guided backprop on tanh
            out[m] = str(e)
    return out
