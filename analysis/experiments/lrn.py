"""The LRN ablation (AK 3.3): on CIFAR-10 a four-layer CNN went from 13% to
11% test error with local response normalisation.

The same net from the same weights, trained alike with and without LRN
after its first two layers; test error every ``test_every`` epochs.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from .config import ExperimentConfig, FourLayerCNN, initial_state
from .registry import Experiment, register_experiment
from .runs import ExperimentResult, Stopped, _check_data, _reporter, _subset, _Trainer, input_transform, stats

_LRN_FULL = ExperimentConfig(
    activations=("relu",), lrs={"relu": (0.003,)}, epochs=8.0, stop_at_target=False,
    weight_decay=5e-4, augment=True, lr_drop_at=0.75, sweep_epochs=1.0, record_every=39,
    test_every=1.0)

PRESETS = {
    # AK 3.3's CIFAR-10 claim (13% -> 11% test error): both nets trained
    # alike with translations + flips and weight decay, test error at the end.
    # LRN's constants (k=2, alpha=1e-4) were set for activations on the raw
    # pixel scale: on standardised inputs (activations ~1) the divisor is
    # 2^0.75 almost everywhere and LRN is a constant. So: AK 2 inputs here too.
    "full": _LRN_FULL,
    "quick": replace(_LRN_FULL, epochs=3.0, subset=5000, test_subset=2000, record_every=8),
}


@torch.no_grad()
def _test_error(net, images, labels, inputs, batch: int = 500) -> float:
    was = net.training
    net.eval()
    try:
        wrong = sum(int((net(inputs(images[i:i + batch])).argmax(1) != labels[i:i + batch]).sum())
                    for i in range(0, len(labels), batch))
    finally:
        net.train(was)
    return wrong / len(labels)


def run_lrn_ablation(config: ExperimentConfig, train, test, progress=None,
                     should_stop=None) -> ExperimentResult:
    """AK 3.3 on CIFAR-10: the same net and weights with and without LRN; test error.

    Uses ``config.activations[0]`` and its first lr (no sweep: both nets train alike).
    """
    cfg = config.validate()
    _check_data(train, "training")
    _check_data(test, "test")
    t0, should_stop = time.time(), should_stop or (lambda: False)
    images, labels = _subset(train.images, train.labels, cfg.subset, cfg.seed)
    test_x, test_y = _subset(test.images, test.labels, cfg.test_subset, cfg.seed + 1)
    act, state, inputs = cfg.activations[0], initial_state(cfg), input_transform(cfg, images)
    result = ExperimentResult("lrn", cfg.to_dict(), {})
    on_record, done = _reporter(progress, result, 2 * cfg.epochs)
    try:
        for name, lrn in (("no-lrn", False), ("lrn", True)):
            net = FourLayerCNN(act, cfg.widths, lrn=lrn)
            net.load_state_dict(state)
            t = _Trainer(name, net, cfg.lrs[act][0], images, labels, cfg, inputs)
            result.curves[name], at = t.curve, cfg.test_every
            while t.epoch < cfg.epochs - 1e-9 and not t.done:
                t.train_until(min(at, cfg.epochs), should_stop, on_record)
                t.curve.test_epochs.append(t.epoch)
                t.curve.test_error.append(_test_error(net, test_x, test_y, inputs))
                at += cfg.test_every
                if t.curve.train_error:
                    on_record(t)  # the app sees the new test point at once
            result.test_error[name] = t.curve.test_error[-1]
            result.epochs_to_target[name] = t.reached()
            done["epochs"] += cfg.epochs
    except Stopped:
        result.stopped = True
    result.seconds = time.time() - t0
    return result


def summary(results) -> dict:
    """Final test error with and without LRN, over seeds."""
    names = list(results[0].curves)
    return {"test_error": {n: stats([r.test_error.get(n) for r in results]) for n in names}}


register_experiment(Experiment(
    "lrn", "LRN ablation (AK 3.3)", "Error with and without LRN",
    "AK 3.3: on CIFAR-10, LRN took a four-layer net from **13%** to **11%** test error",
    run_lrn_ablation, PRESETS, "lrn_ablation_reference.json", summary, needs_test=True))
