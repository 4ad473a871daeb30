"""Why tanh is slow here: ReLU vs tanh as a function of how saturated tanh starts.

AK 3.1 explains the gap by saturation: tanh's gradient vanishes for large
inputs, a ReLU's does not. With AK 2's centred raw pixels (0-255 minus the
mean image) and AK 5's N(0, 0.01) weights, conv1's pre-activations have a
std of about 5 (config.py), so most of conv1's tanh units start where their
slope is near 0. Scaling the inputs moves that: at 0.1 conv1's pre-activations
are about 0.5, where tanh is nearly linear. It also scales the signal through
the net, for both nets (a ReLU net's outputs scale with its inputs), so ReLU is
the control: the claim is the ratio at the largest scale over the ratio at the
smallest, tanh's change in epochs net of ReLU's, above 1 if saturation was
holding tanh back. Each scale is a whole ReLU-vs-tanh run (relu_tanh.py: the
same lr rule for both nets, from the same weights), and each records the share
of conv1's tanh units that start saturated (``saturated_share``).

Why the inputs and not the initial weights: scaling every layer's weights
also scales the signal through the four layers, and at std 0.001 the ReLU net
itself stays at chance (90% error after half an epoch at every lr of its grid,
2026-12 here): that measures a vanishing signal, not tanh's saturation. Only
conv1 is saturated at the paper's scale (conv2's pre-activations have a std
of about 0.3), and the input scale sets conv1's alone.

A registered experiment of its own rather than a mode of relu-tanh: its
result is one ratio per scale (a curve, not one number), and the paper's
claim (relu-tanh's reference) stays one run at the paper's own scale.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from alexnet.checkpoint import save_atomic

from .config import ExperimentConfig, FourLayerCNN, initial_state
from .claims import Claim, interval
from .registry import Experiment, register_experiment
from .relu_tanh import PRESETS as RELU_TANH, capped, grid_edge, run_relu_tanh, saved_state
from .relu_tanh import lr_table as relu_tanh_lr_table
from .runs import Curve, ExperimentResult, _subset, input_transform, stats

SATURATED = 2.0  # |pre-activation| beyond which tanh's slope, 1 - tanh^2, is below 0.071

PRESETS = {
    # relu-tanh's full protocol and grids at three input scales (1 is the paper's, whose
    # runs it takes from relu-tanh's reference: ``lends``); a 30-epoch cap, so slow
    # scales give bounds.
    "full": replace(RELU_TANH["full"], input_scales=(0.1, 0.3, 1.0), epochs=30.0),
    # relu-tanh's quick preset at three scales; the grid stops once one lr has won. ReLU's
    # grid reaches 0.016: on these 250 images the smaller the inputs, the larger ReLU's best
    # lr (2026-12 here: 0.002 at scale 1, 0.004 at 0.3, 0.008 at 0.1; with 0.002 at most,
    # ReLU missed 25% in the cap at 0.1).
    "quick": replace(RELU_TANH["quick"], input_scales=(0.1, 0.3, 1.0), whole_grid=False,
                     lrs={"relu": (0.001, 0.002, 0.004, 0.008, 0.016), "tanh": (0.01, 0.02, 0.04)}),
}


def key(name: str, scale: float) -> str:
    """The curve name of net ``name`` at input scale ``scale``."""
    return f"{name} x{scale:g}"


def saturated_share(config: ExperimentConfig, images: torch.Tensor, n: int = 1000) -> float:
    """The share of conv1's units whose pre-activation starts beyond ``SATURATED``, on the
    first ``n`` of ``images`` (uint8, the training set) with the run's initial weights and
    inputs: how many of tanh's conv1 units start with a slope near 0."""
    net = FourLayerCNN("tanh", config.widths)
    net.load_state_dict(initial_state(config))
    with torch.no_grad():
        z = net.layer("conv1")(input_transform(config, images)(images[:n]).cpu())
    return float((z.abs() > SATURATED).float().mean())


def lends(run: ExperimentResult, scale: ExperimentConfig) -> bool:
    """Whether relu-tanh ``run`` is the run of one input scale's config ``scale`` (seed
    included), up to a cap as long or longer, which ``capped`` then cuts exactly."""
    try:
        c = ExperimentConfig.from_dict(run.config)
    except (ValueError, TypeError):
        return False
    return (run.experiment == "relu-tanh" and not run.stopped and c.lr_rule == "fastest" and c.lr_drop_at >= 1
            and c.epochs >= scale.epochs and replace(c, epochs=scale.epochs).to_dict() == scale.to_dict())


def _scale_run(run: ExperimentResult, x: float) -> ExperimentResult:
    """Input scale ``x`` of relu-tanh-saturation ``run`` as the relu-tanh run it was: its
    settings, every lr's grid entry (what ``run_relu_tanh(grown_from=...)`` reads) and each
    net's pick (a curve of its lr alone: the records are the scale's curves in ``run``)."""
    entry = run.grid["input_scale"][str(x)]
    if "grid" not in entry:
        raise ValueError("this relu-tanh-saturation run was saved before each scale kept its lr grid: "
                         "it cannot be grown; run the seed again")
    cfg = replace(ExperimentConfig.from_dict(run.config), input_scale=x, input_scales=())
    return ExperimentResult("relu-tanh", cfg.to_dict(), {net: Curve(lr, [], []) for net, lr in entry["lr"].items()},
                            grid=entry["grid"])


def lr_table(results) -> list[dict]:
    """relu_tanh.lr_table at each input scale, its rows led by the scale (runs saved before
    each scale kept its grid are left out)."""
    rows = []
    for x in sorted({x for r in results for x in ratios(r)}):
        kept = [_scale_run(r, x) for r in results if "grid" in r.grid["input_scale"].get(str(x), {})]
        rows += [{"input scale": x, **row} for row in relu_tanh_lr_table(kept)]
    return rows


def run_input_scales(config: ExperimentConfig, data, progress=None, should_stop=None,
                     checkpoint=None, borrowed=(), grown_from: ExperimentResult | None = None) -> ExperimentResult:
    """relu-tanh at each of ``config.input_scales``; per scale, in ``grid["input_scale"]``,
    the ratio, the share of conv1's tanh units that start saturated, and the scale's lr
    grids (relu-tanh's ``grid``).

    ``checkpoint``: a file that keeps each finished scale's result, beside one per scale for
    the scale under way (relu-tanh's own), so a seed of many hours goes on where it
    stopped; both are removed when the seed ends. ``borrowed``: relu-tanh runs (its
    reference's), each taken for the scale whose run it is (``lends``) instead of training.
    ``grown_from``: this seed's run on smaller lr grids (``ExperimentConfig.grows``): each
    scale trains only the new lrs (relu-tanh's growing, scale by scale)."""
    cfg = config.validate()
    if not cfg.input_scales:
        raise ValueError("input_scales is empty: give the input scales to compare, e.g. (0.1, 0.3, 1)")
    if grown_from is not None and not (grown_from.config.get("seed") == cfg.seed and cfg.grows(grown_from.config)):
        raise ValueError("grown_from must be a run of the same settings and seed on smaller lr grids")
    result = ExperimentResult("relu-tanh-saturation", cfg.to_dict(), {}, grid={"input_scale": {}})
    done = (saved_state(checkpoint, config=cfg.to_dict()) or {"scales": {}})["scales"]  # {scale: result}
    images = _subset(data.images, data.labels, cfg.subset, cfg.seed)[0]
    n = len(cfg.input_scales)
    for i, x in enumerate(cfg.input_scales):
        def forward(p, i=i, x=x):  # this scale's progress, as a part of the whole
            part = ExperimentResult.from_dict(p["partial"])
            merged = ExperimentResult.from_dict(result.to_dict())
            merged.curves.update({key(k, x): c for k, c in part.curves.items()})
            progress(dict(p, net=key(p["net"], x), fraction=(i + p["fraction"]) / n, partial=merged.to_dict()))

        scale = replace(cfg, input_scale=x, input_scales=())
        lent = next((b for b in borrowed if lends(b, scale)), None)
        if str(x) in done:
            r = ExperimentResult.from_dict(done[str(x)])
        elif lent is not None:
            r = capped(lent, cfg.epochs)
        else:
            part = None if checkpoint is None else Path(checkpoint).with_name(f"{Path(checkpoint).stem}-x{x:g}.pt")
            before = None if grown_from is None else _scale_run(grown_from, x)
            r = run_relu_tanh(scale, data, forward if progress else None, should_stop, part, before)
            if checkpoint is not None and not r.stopped:
                done[str(x)] = r.to_dict()
                save_atomic({"config": cfg.to_dict(), "scales": done}, checkpoint)
        result.seconds += r.seconds
        for name, c in r.curves.items():
            result.curves[key(name, x)] = c
            result.epochs_to_target[key(name, x)] = r.epochs_to_target.get(name)
        if r.stopped:
            result.stopped = True
            break
        result.grid["input_scale"][str(x)] = {"ratio": r.ratio, "ratio_lower_bound": r.ratio_lower_bound,
                                              "saturated": saturated_share(scale, images),
                                              "lr": {k: c.lr for k, c in r.curves.items()},
                                              "grid": r.grid,  # every lr of both nets, as relu-tanh keeps it
                                              # taken from relu-tanh's run (cut to this cap), not trained here
                                              "borrowed": lent is not None and str(x) not in done}
    if checkpoint is not None and not result.stopped:
        Path(checkpoint).unlink(missing_ok=True)
    return result


def ratios(result: ExperimentResult) -> dict:
    """{scale: (ratio or its lower bound, True if only a bound)} for one run (None: ReLU missed too)."""
    out = {}
    for x, e in result.grid.get("input_scale", {}).items():
        v = e["ratio"] if e["ratio"] is not None else e["ratio_lower_bound"]
        out[float(x)] = (v, e["ratio"] is None and v is not None)
    return out


def _shrink(result: ExperimentResult, bound: bool = False) -> float | None:
    """The ratio at the largest input scale over the ratio at the smallest: above 1 if tanh's
    lag shrinks where it starts less saturated. With ``bound``, where the largest scale's
    ratio is only a lower bound (tanh missed the cap), that bound's quotient, which the
    effect exceeds; None where the smallest scale's is a bound too (then nothing is known)."""
    r = ratios(result)
    if len(r) < 2:
        return None
    (hi, hi_bound), (lo, lo_bound) = r[max(r)], r[min(r)]
    if hi is None or lo is None or lo_bound or hi_bound != bound:
        return None
    return hi / lo


CLAIM = Claim(
    "relu-tanh-saturation", "AK 3.1",
    "Saturating units (tanh) train slower than non-saturating ones (ReLU): where conv1's tanh units start "
    "nearly linear (inputs scaled down), ReLU's lead should shrink",
    None, "x (ratio at the largest input scale / at the smallest)", effect=_shrink, null=1.0, direction=1,
    bound=lambda r: _shrink(r, bound=True),
    scaled_down="relu-tanh's stand-in net and lr grids; inputs scaled by 0.1, 0.3 and 1 (the paper's); "
                "a 30-epoch cap")


def summary(results) -> dict:
    """Per input scale: the ratio (or its bound) over seeds with its 95% interval, how many
    seeds only bound it, the share of conv1's tanh units that start saturated, and each
    net whose every seed picked one end of its lr grid (``edge``: relu_tanh.grid_edge)."""
    out = {}
    lrs = ExperimentConfig.from_dict(results[0].config).lrs if results else {}
    for x in sorted({x for r in results for x in ratios(r)}):
        per_seed = [ratios(r).get(x, (None, False)) for r in results]
        values = [v for v, _ in per_seed if v is not None]
        low, high = interval(values)[1:] if len(values) > 1 else (None, None)
        edge = grid_edge(results, {key(net, x): grid for net, grid in lrs.items()})
        out[str(x)] = dict(stats([v for v, _ in per_seed]), low=low, high=high,
                           censored=sum(b for _, b in per_seed),
                           saturated=stats([r.grid["input_scale"][str(x)]["saturated"] for r in results
                                            if str(x) in r.grid.get("input_scale", {})]).get("mean"),
                           edge={net: edge[key(net, x)] for net in lrs if key(net, x) in edge})
    return {"ratio_by_input_scale": out}


register_experiment(Experiment(
    "relu-tanh-saturation", "Why: how saturated tanh starts", "Training error, ReLU vs tanh, per input scale",
    "AK 3.1 blames saturation: tanh's gradient vanishes for large inputs. Scaled-down inputs start "
    "conv1's tanh units where they are nearly linear: if saturation is the reason, ReLU's lead "
    "should shrink there",
    lambda cfg, train, test, progress=None, should_stop=None, checkpoint=None, borrowed=(), grown_from=None:
        run_input_scales(cfg, train, progress, should_stop, checkpoint, borrowed, grown_from),
    PRESETS, "relu_tanh_saturation_reference.json", summary, claims=(CLAIM,), resumable=True, grows=True,
    borrows="relu-tanh"))
