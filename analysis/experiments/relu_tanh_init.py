"""Why tanh is slow here: ReLU vs tanh as a function of the initial weight scale.

AK 3.1 explains the gap by saturation: tanh's gradient vanishes for large
inputs, a ReLU's does not. With AK 2's centred raw pixels (0-255 minus the
mean image) and AK 5's N(0, 0.01) weights, conv1's pre-activations have a
std of about 5 (config.py), so tanh starts saturated. Scaling the initial
weights moves that: at std 0.001 conv1's pre-activations are about 0.5, where
tanh is nearly linear, and the ratio should shrink; at 0.03 tanh starts deeper
in saturation. Each scale is a whole ReLU-vs-tanh run (relu_tanh.py: the same
lr rule for both nets, from the same weights).

A registered experiment of its own rather than a mode of relu-tanh: its
result is one ratio per scale (a curve, not one number), its full protocol
costs several times the paper's setting, and the paper's claim (relu-tanh's
reference) stays one run at the paper's own scale.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alexnet.checkpoint import save_atomic

from .config import ExperimentConfig
from .registry import Experiment, register_experiment
from .relu_tanh import PRESETS as RELU_TANH, capped, run_relu_tanh, saved_state
from .runs import ExperimentResult, stats

PRESETS = {
    # relu-tanh's full protocol and grids at three scales (0.01 is the paper's, whose
    # runs it takes from relu-tanh's reference: ``lends``); a 30-epoch cap, so slow
    # scales give bounds. Twice relu-tanh's own reference, or more.
    "full": replace(RELU_TANH["full"], init_stds=(0.001, 0.01, 0.03), epochs=30.0),
    # relu-tanh's quick preset at three scales; the grid stops once one lr has won.
    "quick": replace(RELU_TANH["quick"], init_stds=(0.001, 0.01, 0.03), whole_grid=False,
                     lrs={"relu": (0.0003, 0.002, 0.01), "tanh": (0.01, 0.04)}),
}


def key(name: str, std: float) -> str:
    """The curve name of net ``name`` at weight scale ``std``."""
    return f"{name} std {std:g}"


def lends(run: ExperimentResult, scale: ExperimentConfig) -> bool:
    """Whether relu-tanh ``run`` is the run of one weight scale's config ``scale`` (seed
    included), up to a cap as long or longer, which ``capped`` then cuts exactly."""
    try:
        c = ExperimentConfig.from_dict(run.config)
    except (ValueError, TypeError):
        return False
    return (run.experiment == "relu-tanh" and not run.stopped and c.lr_rule == "fastest" and c.lr_drop_at >= 1
            and c.epochs >= scale.epochs and replace(c, epochs=scale.epochs).to_dict() == scale.to_dict())


def run_init_scales(config: ExperimentConfig, data, progress=None, should_stop=None,
                    checkpoint=None, borrowed=()) -> ExperimentResult:
    """relu-tanh at each of ``config.init_stds``; the ratio per scale in ``grid["init_std"]``.

    ``checkpoint``: a file that keeps each finished scale's result, beside one per scale for
    the scale under way (relu-tanh's own), so a seed of many hours goes on where it
    stopped; both are removed when the seed ends. ``borrowed``: relu-tanh runs (its
    reference's), each taken for the scale whose run it is (``lends``) instead of training."""
    cfg = config.validate()
    if not cfg.init_stds:
        raise ValueError("init_stds is empty: give the weight scales to compare, e.g. (0.001, 0.01, 0.03)")
    result = ExperimentResult("relu-tanh-init", cfg.to_dict(), {}, grid={"init_std": {}})
    done = (saved_state(checkpoint, config=cfg.to_dict()) or {"scales": {}})["scales"]  # {std: result}
    n = len(cfg.init_stds)
    for i, std in enumerate(cfg.init_stds):
        def forward(p, i=i, std=std):  # this scale's progress, as a part of the whole
            part = ExperimentResult.from_dict(p["partial"])
            merged = ExperimentResult.from_dict(result.to_dict())
            merged.curves.update({key(k, std): c for k, c in part.curves.items()})
            progress(dict(p, net=key(p["net"], std), fraction=(i + p["fraction"]) / n, partial=merged.to_dict()))

        scale = replace(cfg, init_std=std, init_stds=())
        lent = next((b for b in borrowed if lends(b, scale)), None)
        if str(std) in done:
            r = ExperimentResult.from_dict(done[str(std)])
        elif lent is not None:
            r = capped(lent, cfg.epochs)
        else:
            part = None if checkpoint is None else Path(checkpoint).with_name(f"{Path(checkpoint).stem}-std{std:g}.pt")
            r = run_relu_tanh(scale, data, forward if progress else None, should_stop, part)
            if checkpoint is not None and not r.stopped:
                done[str(std)] = r.to_dict()
                save_atomic({"config": cfg.to_dict(), "scales": done}, checkpoint)
        result.seconds += r.seconds
        for name, c in r.curves.items():
            result.curves[key(name, std)] = c
            result.epochs_to_target[key(name, std)] = r.epochs_to_target.get(name)
        if r.stopped:
            result.stopped = True
            break
        result.grid["init_std"][str(std)] = {"ratio": r.ratio, "ratio_lower_bound": r.ratio_lower_bound,
                                             "lr": {k: c.lr for k, c in r.curves.items()},
                                             # taken from relu-tanh's run (cut to this cap), not trained here
                                             "borrowed": lent is not None and str(std) not in done}
    if checkpoint is not None and not result.stopped:
        Path(checkpoint).unlink(missing_ok=True)
    return result


def ratios(result: ExperimentResult) -> dict:
    """{std: (ratio or its lower bound, True if only a bound)} for one run (None: ReLU missed too)."""
    out = {}
    for std, e in result.grid.get("init_std", {}).items():
        v = e["ratio"] if e["ratio"] is not None else e["ratio_lower_bound"]
        out[float(std)] = (v, e["ratio"] is None and v is not None)
    return out


def summary(results) -> dict:
    """Per weight scale: the ratio (or its bound) over seeds, and how many seeds only bound it."""
    stds = sorted({s for r in results for s in ratios(r)})
    return {"ratio_by_init_std": {str(s): dict(stats([ratios(r).get(s, (None, False))[0] for r in results]),
                                               censored=sum(ratios(r).get(s, (None, False))[1] for r in results))
                                  for s in stds}}


register_experiment(Experiment(
    "relu-tanh-init", "Why: the initial weight scale", "Training error, ReLU vs tanh, per weight scale",
    "AK 3.1 blames saturation: tanh's gradient vanishes for large inputs. The larger the initial "
    "weights, the more saturated tanh starts, and the more ReLU's lead should grow",
    lambda cfg, train, test, progress=None, should_stop=None, checkpoint=None, borrowed=(): run_init_scales(
        cfg, train, progress, should_stop, checkpoint, borrowed),
    PRESETS, "relu_tanh_init_reference.json", summary, resumable=True, borrows="relu-tanh"))
