"""ReLU vs tanh (AK 3.1, Fig. 1): "a four-layer convolutional neural network
with ReLUs reaches a 25% training error rate on CIFAR-10 six times faster
than an equivalent network with tanh neurons".

Each activation trains from the same initial weights, at its own learning
rate (picked by a short sweep, as AK tuned each net for speed), until the
target training error or the epoch cap; the result is the ratio of epochs.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

from .config import ExperimentConfig, FourLayerCNN, initial_state
from .registry import Experiment, register_experiment
from .runs import (ExperimentResult, Stopped, _check_data, _reporter, _subset, _Trainer, input_transform,
                   stats)

_RELU_TANH_FULL = ExperimentConfig(
    lrs={"relu": (0.002, 0.004, 0.008), "tanh": (0.005, 0.01, 0.02, 0.04)},
    sweep_epochs=0.5, epochs=30.0, record_every=39)  # 391 steps an epoch: 10 records per epoch

PRESETS = {
    # The whole training set, AK 2's centred raw pixels, AK 5's N(0, 0.01)
    # weights; each net's lr from a 0.5-epoch sweep; both stop at 25%.
    # Shipped (seeds 0-2): ReLU 7.08 +- 0.05 epochs; tanh stuck near 0.37
    # and never got there in 30, so the ratio is > 4.2 in every seed.
    "full": _RELU_TANH_FULL,
    # ~60 s on two cores: 2,000 images, 20 epochs, fixed lrs picked by hand
    # (the full sweep chose ReLU 0.002, tanh 0.02). bench_experiments here: 64 s,
    # ReLU reached 25% at epoch 11.2, tanh not in 20 (ratio > 1.8). Small sets let a
    # hot tanh catch up: at lr 0.03 it reached 25% at 13.5 on these 2,000.
    "quick": replace(_RELU_TANH_FULL, lrs={"relu": (0.003,), "tanh": (0.01,)},
                     subset=2000, epochs=20.0, record_every=4),
}


def _pick_lr(name, candidates, cfg, state, images, labels, inputs, should_stop, on_record):
    """AK 3.1: each net's lr tuned for speed. Every candidate trains ``sweep_epochs``
    from the same weights; the lowest error over the sweep's second half wins and goes on."""
    runs, scores = [], {}
    for lr in candidates:
        net = FourLayerCNN(name, cfg.widths, lrn=cfg.lrn)
        net.load_state_dict(state)
        t = _Trainer(name, net, lr, images, labels, cfg, inputs)
        if len(candidates) > 1:
            t.train_until(cfg.sweep_epochs / 2, should_stop, on_record)
            t.wrong_seen = [0, 0]
            t.train_until(cfg.sweep_epochs, should_stop, on_record)
            scores[lr] = math.inf if t.curve.diverged else t.wrong_seen[0] / max(1, t.wrong_seen[1])
        runs.append(t)
    if len(candidates) > 1 and all(math.isinf(s) for s in scores.values()):
        raise FloatingPointError(f"{name}: every learning rate in {candidates} diverged; try smaller ones")
    best = min(runs, key=lambda t: (scores.get(t.curve.lr, 0.0), t.curve.lr))
    return best, {str(k): v for k, v in scores.items()}



def run_relu_tanh(config: ExperimentConfig, data, progress=None, should_stop=None) -> ExperimentResult:
    """AK Fig. 1: train each activation from the same weights until the target error.

    ``data``: CIFAR-10 training TensorDataset (uint8). ``progress(dict)`` gets the
    partial result after every record; ``should_stop()`` ends the run early
    (the result then has ``stopped=True``).
    """
    cfg = config.validate()
    _check_data(data, "training")
    t0, should_stop = time.time(), should_stop or (lambda: False)
    images, labels = _subset(data.images, data.labels, cfg.subset, cfg.seed)
    inputs, state = input_transform(cfg, images), initial_state(cfg)
    result = ExperimentResult("relu-tanh", cfg.to_dict(), {})
    budget = sum(cfg.epochs + (len(cfg.lrs[a]) - 1) * cfg.sweep_epochs for a in cfg.activations)
    on_record, done = _reporter(progress, result, budget)
    try:
        for name in cfg.activations:
            best, result.sweep[name] = _pick_lr(name, cfg.lrs[name], cfg, state, images, labels,
                                                inputs, should_stop, on_record)
            done["epochs"] += (len(cfg.lrs[name]) - 1) * cfg.sweep_epochs
            result.curves[name] = best.curve
            best.train_until(cfg.epochs, should_stop, on_record)
            result.epochs_to_target[name] = best.reached()
            done["epochs"] += cfg.epochs
    except Stopped:
        result.stopped = True
    r, t = result.epochs_to_target.get("relu"), result.epochs_to_target.get("tanh")
    if r and t:
        result.ratio = t / r
    elif r and "tanh" in result.epochs_to_target and not result.stopped:
        result.ratio_lower_bound = cfg.epochs / r
    result.seconds = time.time() - t0
    return result


def summary(results) -> dict:
    """The ratio of epochs over seeds, and its lower bound where tanh never got there."""
    return {"ratio": stats([r.ratio for r in results]),  # seeds where both nets got there
            "ratio_lower_bound": stats([r.ratio_lower_bound for r in results]),  # where tanh did not
            # per seed, the ratio or else its lower bound; their minimum bounds every seed's ratio
            "ratio_at_least": stats([r.ratio if r.ratio is not None else r.ratio_lower_bound
                                     for r in results])}


register_experiment(Experiment(
    "relu-tanh", "ReLU vs tanh (AK Fig. 1)", "Training error, ReLU vs tanh",
    "AK 3.1: ReLUs reach 25% training error about **6x** faster (in epochs) than tanh",
    lambda cfg, train, test, progress=None, should_stop=None: run_relu_tanh(cfg, train, progress, should_stop),
    PRESETS, "relu_tanh_reference.json", summary))
