"""Every analysis, registered once with a small call and its output contract.

A row says how to run the analysis on any net with named stages and roles
(``alexnet.stages``), which tensors it returns and what their shapes must
be, and how to call it wrongly. ``tests/test_analysis_contract.py`` runs
every row over every registered net (and a toy net of its own), in the
spirit of captum's ``tests/attr/helpers/test_config.py``: a new analysis
joins those tests by one ``register_analysis`` call here.

Shapes are worked out from the net's surface (channel counts and the
kernel/stride/padding arithmetic of ``stage_geometry``), not by running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from alexnet.stages import feature_layers, geometry, num_channels, roles

from ._layers import Box
from .activations import layer_outputs
from .attribution import deconvnet, gradcam, guided_backprop, integrated_gradients, saliency
from .correspondence import correspondence
from .deconv import project
from .evolution import evolution
from .featvis import Settings as FeatVisSettings, visualise
from .filter_quality import filter_quality
from .filters import tower_colour
from .grid import activation_grid
from .linear_probe import layer_features
from .invariance import invariance
from .neighbours import nearest_neighbours
from .occlusion import occlusion
from .top9 import scan_layer, top9

BAD_LAYER = "no_such_layer"  # what the ``bad`` calls pass where a layer name goes


@dataclass(frozen=True)
class Analysis:
    """One analysis and its contract."""

    name: str
    run: Callable[[nn.Module, torch.Tensor], Any]  # a small call: (net, images (B, 3, S, S)) -> result
    outputs: Callable[[Any], dict[str, torch.Tensor]]  # the result's tensors, by name
    shapes: Callable[[nn.Module, torch.Tensor], dict[str, tuple]]  # what their shapes must be
    bad: Callable[[nn.Module, torch.Tensor], Any]  # a call with a wrong argument
    error: type = KeyError  # what ``bad`` must raise (its message names the valid choices)
    forward: bool = True  # runs the net (False: reads weights only)
    on_cpu: tuple[str, ...] = ()  # outputs returned on the CPU whatever the input's device
    float32: tuple[str, ...] = ()  # float outputs that are float32 whatever the input's dtype


ANALYSES: dict[str, Analysis] = {}


def register_analysis(a: Analysis) -> Analysis:
    """Add a row; the contract tests pick it up."""
    if a.name in ANALYSES:
        raise ValueError(f"an analysis named {a.name!r} is already registered")
    ANALYSES[a.name] = a
    return a


# ---- shapes from the surface --------------------------------------------

def map_shape(model: nn.Module, layer: str, side: int) -> tuple[int, ...]:
    """(C, H, W) of a spatial stage's output for a side x side image, or (units,) past them."""
    names = feature_layers(model)
    if layer not in names:
        return (num_channels(model, layer),)
    geo = geometry(model)
    for name in names[: names.index(layer) + 1]:
        (k, _), (s, _), (p, _) = geo[name]
        side = (side + 2 * p - k) // s + 1
    return (num_channels(model, layer), side, side)


def _r(model):
    return roles(model)


def _first_features(model) -> dict:
    return {f"features.{k}": v for k, v in model.features.state_dict().items()}


# ---- the rows ------------------------------------------------------------

register_analysis(Analysis(
    "project",
    run=lambda m, x: project(m, x, _r(m).last_conv, 0),
    outputs=lambda p: {"pixels": p.pixels, "value": p.value, "position": p.position},
    shapes=lambda m, x: {"pixels": tuple(x.shape), "value": (len(x),), "position": (len(x), 2)},
    bad=lambda m, x: project(m, x, BAD_LAYER, 0)))

register_analysis(Analysis(
    "scan_layer",
    run=lambda m, x: scan_layer(m, _r(m).last_conv, x),
    outputs=lambda s: {"values": s.values, "positions": s.positions},
    shapes=lambda m, x: {k: (len(x), num_channels(m, _r(m).last_conv)) for k in ("values", "positions")},
    bad=lambda m, x: scan_layer(m, BAD_LAYER, x),
    on_cpu=("values", "positions"), float32=("values",)))

register_analysis(Analysis(
    "top9",
    run=lambda m, x: top9(m, _r(m).last_conv, 0, x, k=2),
    outputs=lambda found: {"value": torch.tensor([t.value for t in found]),
                           "projection": found[0].projection},
    shapes=lambda m, x: {"value": (min(2, len(x)),)},
    bad=lambda m, x: top9(m, BAD_LAYER, 0, x),
    on_cpu=("value", "projection"), float32=("value", "projection")))

register_analysis(Analysis(
    "occlusion",  # 4 x 4 positions of a square a quarter of the side
    run=lambda m, x: occlusion(m, x[:1], size=x.shape[-1] // 4, stride=x.shape[-1] // 4),
    outputs=lambda r: {k: getattr(r, k) for k in ("activation", "probability", "top_class", "channel",
                                                  "target", "base_activation", "base_probability")},
    shapes=lambda m, x: {"activation": (1, 4, 4), "probability": (1, 4, 4), "top_class": (1, 4, 4),
                         "channel": (1,), "target": (1,), "base_activation": (1,),
                         "base_probability": (1,)},
    bad=lambda m, x: occlusion(m, x[:1], size=x.shape[-1] // 4, layer=BAD_LAYER)))

register_analysis(Analysis(
    "layer_outputs",
    run=lambda m, x: layer_outputs(m, x, [_r(m).first_block, _r(m).penultimate]),
    outputs=lambda out: out,
    shapes=lambda m, x: {n: (len(x), *map_shape(m, n, x.shape[-1]))
                         for n in (_r(m).first_block, _r(m).penultimate)},
    bad=lambda m, x: layer_outputs(m, x, [BAD_LAYER])))

register_analysis(Analysis(
    "nearest_neighbours",  # the reference features are kept on the CPU in float32
    run=lambda m, x: nearest_neighbours(m, x[:1], x, k=2),
    outputs=lambda n: {"indices": n.indices, "distances": n.distances},
    shapes=lambda m, x: {"indices": (1, 2), "distances": (1, 2)},
    bad=lambda m, x: nearest_neighbours(m, x[:1], x, k=2, layer=BAD_LAYER),
    on_cpu=("indices", "distances"), float32=("distances",)))

register_analysis(Analysis(
    "invariance",
    run=lambda m, x: invariance(m, x, "scale", amounts=[1.0, 1.2]),
    outputs=lambda c: {**{f"distance {k}": v for k, v in c.distances.items()},
                       "probability": c.probability, "top_class": c.top_class, "target": c.target},
    shapes=lambda m, x: {f"distance {_r(m).first_block}": (len(x), 2),
                         f"distance {_r(m).penultimate}": (len(x), 2),
                         "probability": (len(x), 2), "top_class": (len(x), 2), "target": (len(x),)},
    bad=lambda m, x: invariance(m, x, "scale", layers=(BAD_LAYER,))))

register_analysis(Analysis(
    "evolution",  # one snapshot: the net's own weights; results are gathered on the CPU
    run=lambda m, x: evolution(m, [(1, _first_features(m))], x, [(_r(m).last_conv, 0)])[0],
    outputs=lambda u: {"projection": u.projection, "value": u.value, "position": u.position},
    shapes=lambda m, x: {"projection": (1, *x.shape[1:]), "value": (1,), "position": (1, 2)},
    bad=lambda m, x: evolution(m, [(1, _first_features(m))], x, [(BAD_LAYER, 0)]),
    on_cpu=("projection", "value", "position")))

register_analysis(Analysis(
    "tower_colour",  # reads the first conv's weights only
    run=lambda m, x: tower_colour(m),
    outputs=lambda towers: {f"scores {t.tower}": t.scores for t in towers},
    shapes=lambda m, x: {f"scores {t}": (num_channels(m, _r(m).first_conv) // _r(m).towers,)
                         for t in range(_r(m).towers)},
    bad=lambda m, x: tower_colour(m, layer=BAD_LAYER),
    forward=False, on_cpu=("scores 0", "scores 1"), float32=("scores 0", "scores 1")))


def _attribution(a) -> dict:
    out = {"pixels": a.pixels, "heat": a.heat, "target": a.target}
    return out if a.position is None else {**out, "position": a.position}


def _pixels(m, x) -> dict:
    b, s = len(x), x.shape[-1]
    return {"pixels": tuple(x.shape), "heat": (b, s, s), "target": (b,)}


register_analysis(Analysis(
    "deconvnet",  # a class: the signal from its logit, through captum
    run=lambda m, x: deconvnet(m, x, 1),
    outputs=_attribution, shapes=_pixels,
    bad=lambda m, x: deconvnet(m, x, 0, layer=BAD_LAYER)))

register_analysis(Analysis(
    "guided_backprop",  # a unit of the last conv maps, at its strongest position
    run=lambda m, x: guided_backprop(m, x, 0, layer=_r(m).last_conv),
    outputs=_attribution, shapes=lambda m, x: {**_pixels(m, x), "position": (len(x), 2)},
    bad=lambda m, x: guided_backprop(m, x, 0, layer=BAD_LAYER)))

register_analysis(Analysis(
    "saliency",
    run=lambda m, x: saliency(m, x, 3),
    outputs=_attribution, shapes=_pixels,
    bad=lambda m, x: saliency(m, x, 0, layer=BAD_LAYER)))

register_analysis(Analysis(
    "gradcam",  # a unit of the penultimate layer, Grad-CAM at the last conv stage below it
    run=lambda m, x: gradcam(m, x, 4, layer=_r(m).penultimate),
    outputs=_attribution,
    shapes=lambda m, x: {"pixels": (len(x), 1, *x.shape[-2:]), "heat": (len(x), *x.shape[-2:]),
                         "target": (len(x),)},
    bad=lambda m, x: gradcam(m, x, 0, layer=BAD_LAYER)))

register_analysis(Analysis(
    "integrated_gradients",
    run=lambda m, x: integrated_gradients(m, x, 2, steps=4),
    outputs=_attribution, shapes=_pixels,
    bad=lambda m, x: integrated_gradients(m, x, 0, layer=BAD_LAYER, steps=2)))

register_analysis(Analysis(
    "activation_grid",
    run=lambda m, x: activation_grid(m, x, _r(m).last_conv),
    outputs=lambda g: {"maps": g.maps, "strength": g.strength, **{f"order {i}": o for i, o in enumerate(g.order)}},
    shapes=lambda m, x: {"maps": (len(x), *map_shape(m, _r(m).last_conv, x.shape[-1])),
                         "strength": (len(x), num_channels(m, _r(m).last_conv)),
                         **{f"order {t}": (len(x), num_channels(m, _r(m).last_conv) // _r(m).towers)
                            for t in range(_r(m).towers)}},
    bad=lambda m, x: activation_grid(m, x, BAD_LAYER)))

register_analysis(Analysis(
    "visualise",  # pictures made from noise: the input's batch is not used, only its side
    run=lambda m, x: visualise(m, _r(m).last_conv, [0, 1], size=x.shape[-1],
                               settings=FeatVisSettings(steps=2)),
    outputs=lambda v: {"images": v.images, "history": v.history, "value": v.value},
    shapes=lambda m, x: {"images": (2, *x.shape[1:]), "history": (2, 2), "value": (2,)},
    bad=lambda m, x: visualise(m, BAD_LAYER, [0], size=x.shape[-1]),
    on_cpu=("images", "history", "value"), float32=("history", "value")))

register_analysis(Analysis(
    "filter_quality",  # ZF Fig. 6 in numbers; reads the first conv's weights only
    run=lambda m, x: filter_quality(m),
    outputs=lambda q: {"rms": q.rms, "high_share": q.high_share, "mean_frequency": q.mean_frequency,
                       "aliased_share": q.aliased_share},
    shapes=lambda m, x: {k: (num_channels(m, _r(m).first_conv),)
                         for k in ("rms", "high_share", "mean_frequency", "aliased_share")},
    bad=lambda m, x: filter_quality(m, layer=BAD_LAYER),
    forward=False, on_cpu=("rms", "high_share", "mean_frequency", "aliased_share"),
    float32=("rms", "high_share", "mean_frequency", "aliased_share")))

def _layers_5_and_7(layer5, layer7) -> dict:
    return {"pairs 5": layer5.pairs, "pairs 7": layer7.pairs,
            "changed 5": layer5.changed, "changed 7": layer7.changed}


register_analysis(Analysis(
    "correspondence",  # ZF 4.3: the same corner box masked in every image; layers 5 and 7 by role
    run=lambda m, x: correspondence(m, x, [Box(0, 0, x.shape[-1] // 4, x.shape[-1] // 4)] * len(x)),
    outputs=lambda c: _layers_5_and_7(*c.values()),
    shapes=lambda m, x: {"pairs 5": (len(x) * (len(x) - 1) // 2,), "pairs 7": (len(x) * (len(x) - 1) // 2,),
                         "changed 5": (len(x),), "changed 7": (len(x),)},
    bad=lambda m, x: correspondence(m, x, [Box(0, 0, 2, 2)] * len(x), layers=(BAD_LAYER,)),
    on_cpu=("pairs 5", "pairs 7", "changed 5", "changed 7"),
    float32=("pairs 5", "pairs 7", "changed 5", "changed 7")))


def _pooled_width(model, layer: str, side: int, grid: int = 2) -> int:
    shape = map_shape(model, layer, side)
    return shape[0] * grid * grid if len(shape) == 3 else shape[0]


register_analysis(Analysis(
    "layer_features",  # ZF 5.1/5.2's inputs to the linear probe: grid-pooled maps, fc units as they are
    run=lambda m, x: layer_features(m, x, [_r(m).first_block, _r(m).penultimate], grid=2),
    outputs=lambda f: {"first_block": f[next(iter(f))], "penultimate": f[list(f)[-1]]},
    shapes=lambda m, x: {"first_block": (len(x), _pooled_width(m, _r(m).first_block, x.shape[-1])),
                         "penultimate": (len(x), _pooled_width(m, _r(m).penultimate, x.shape[-1]))},
    bad=lambda m, x: layer_features(m, x, [BAD_LAYER]),
    on_cpu=("first_block", "penultimate"), float32=("first_block", "penultimate")))
