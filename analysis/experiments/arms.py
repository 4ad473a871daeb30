"""One runner for the ablations: train every arm alike, test every ``test_every`` epochs.

An ablation compares nets ("arms") that differ in one thing the paper
changed (LRN, pooling, dropout, augmentation, towers, layers). Every arm:

- starts from the same initial weights wherever its tensors have the same
  name and shape as the first arm's (``shared_start``), so a difference in
  the results is the change's and not the draw's;
- sees the same images in the same order (``runs._Trainer``: the order of
  epoch e is a function of the seed and e) with the same crops and flips;
- draws its dropout masks from the global RNG seeded with the config's seed,
  inside ``fork_rng`` so the caller's RNG is left alone;
- is tested on the same test images (and, if ``train_eval_subset``, on a
  fixed sample of its training images, for the train-test gap) in eval mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from alexnet.model import AlexNet, AlexNetConfig

from .config import ExperimentConfig
from .runs import ExperimentResult, Stopped, _check_data, _reporter, _subset, _Trainer, input_transform, stats

INITS = {"paper-gaussian": "paper", "kaiming": "kaiming"}  # ExperimentConfig.init -> AlexNetConfig.init


@dataclass(frozen=True)
class Arm:
    """One net of an ablation: how to build it, and (optionally) its own augmentation."""

    name: str
    build: Callable[[], nn.Module]  # a fresh, initialised net
    augment: Callable | None = None  # (uint8 batch, generator) -> batch; None: as the config says


def alexnet_arm(name: str, cfg: ExperimentConfig, augment=None, **changes) -> Arm:
    """An arm built from the CIFAR-scale AlexNet of ``cfg.widths``, with ``changes`` to its config."""
    if cfg.init not in INITS:
        raise ValueError(f"init {cfg.init!r} is not one the AlexNet has; choose from {', '.join(INITS)}")
    config = AlexNetConfig(**{"variant": "cifar", "num_classes": 10, "widths": tuple(cfg.widths),
                              "init": INITS[cfg.init], **changes})
    return Arm(name, lambda: AlexNet(config), augment)


def shared_start(nets) -> list[str]:
    """Copy into every net the first net's tensors of the same name and shape; their names."""
    first = nets[0].state_dict()
    shared = set()
    with torch.no_grad():
        for net in nets[1:]:
            for k, v in net.state_dict().items():
                if k in first and first[k].shape == v.shape:
                    v.copy_(first[k])
                    shared.add(k)
    return sorted(shared)


@torch.no_grad()
def error_rate(net, images, labels, inputs, batch: int = 500) -> float:
    """Top-1 error of ``net`` in eval mode on uint8 ``images``; the net's mode is restored."""
    was = net.training
    net.eval()
    try:
        wrong = sum(int((net(inputs(images[i:i + batch]).contiguous(memory_format=torch.channels_last))
                         .argmax(1) != labels[i:i + batch]).sum())
                    for i in range(0, len(labels), batch))
    finally:
        net.train(was)
    return wrong / len(labels)


def run_arms(experiment: str, cfg: ExperimentConfig, arms, train, test, progress=None,
             should_stop=None) -> ExperimentResult:
    """Train each arm for ``cfg.epochs`` at ``cfg.lrs[cfg.activations[0]][0]``; test as it goes.

    Fills each arm's curve (running training error; test error and, with
    ``train_eval_subset``, training-sample error at every test point) and the
    result's final ``test_error`` and ``train_error`` per arm.
    """
    cfg = cfg.validate()
    _check_data(train, "training")
    _check_data(test, "test")
    t0, should_stop = time.time(), should_stop or (lambda: False)
    images, labels = _subset(train.images, train.labels, cfg.subset, cfg.seed)
    test_x, test_y = _subset(test.images, test.labels, cfg.test_subset, cfg.seed + 1)
    seen_x, seen_y = _subset(images, labels, cfg.train_eval_subset, cfg.seed + 2)
    inputs, lr = input_transform(cfg, images), cfg.lrs[cfg.activations[0]][0]
    with torch.random.fork_rng(devices=[]):  # the nets' own init draws from the global RNG
        torch.manual_seed(cfg.seed)
        nets = [arm.build() for arm in arms]
    shared_start(nets)
    result = ExperimentResult(experiment, cfg.to_dict(), {})
    on_record, done = _reporter(progress, result, len(arms) * cfg.epochs)
    try:
        for i, (arm, net) in enumerate(zip(arms, nets)):
            with torch.random.fork_rng(devices=[]):  # dropout's masks: a function of the seed
                torch.manual_seed(cfg.seed * 1_000 + i)
                _train_arm(arm, net, lr, images, labels, cfg, inputs, (test_x, test_y),
                           (seen_x, seen_y), result, should_stop, on_record)
            done["epochs"] += cfg.epochs
    except Stopped:
        result.stopped = True
    result.seconds = time.time() - t0
    return result


def _train_arm(arm, net, lr, images, labels, cfg, inputs, test, seen, result, should_stop, on_record):
    t = _Trainer(arm.name, net, lr, images, labels, cfg, inputs, augment=arm.augment)
    c = result.curves[arm.name] = t.curve
    at = cfg.test_every
    while t.epoch < cfg.epochs - 1e-9 and not t.done:
        t.train_until(min(at, cfg.epochs), should_stop, on_record)
        c.test_epochs.append(t.epoch)
        c.test_error.append(error_rate(net, *test, inputs))
        if cfg.train_eval_subset:
            c.train_eval_error.append(error_rate(net, *seen, inputs))
        at += cfg.test_every
        if c.train_error:
            on_record(t)  # the app sees the new test point at once
    result.test_error[arm.name] = c.test_error[-1] if c.test_error else None
    if c.train_eval_error:
        result.train_error[arm.name] = c.train_eval_error[-1]
    result.epochs_to_target[arm.name] = t.reached()


def _value(r: ExperimentResult, arm: str, of: str):
    test = r.test_error.get(arm)
    if of == "test" or test is None:
        return test
    train = r.train_error.get(arm)
    return None if train is None else test - train  # "gap": how much better it does on what it saw


def difference(a: str, b: str, of: str = "test") -> Callable:
    """A claim's effect: arm ``a``'s final test error (``of="gap"``: train-test gap)
    minus arm ``b``'s, in percentage points; None for a stopped run or a missing arm."""
    if of not in ("test", "gap"):
        raise ValueError(f"of must be 'test' or 'gap', got {of!r}")

    def effect(r: ExperimentResult):
        va, vb = _value(r, a, of), _value(r, b, of)
        return None if r.stopped or va is None or vb is None else 100 * (va - vb)
    return effect


def summary(results) -> dict:
    """Per arm over seeds: final test error, training-sample error and their gap."""
    names = list(results[0].curves)
    out = {"test_error": {n: stats([r.test_error.get(n) for r in results]) for n in names}}
    if any(r.train_error for r in results):
        out["train_error"] = {n: stats([r.train_error.get(n) for r in results]) for n in names}
        out["gap"] = {n: stats([_value(r, n, "gap") for r in results]) for n in names}
    return out


# The CIFAR-scale AlexNet the AlexNet ablations train (pooling, dropout, augmentation, towers,
# layer removal): AK Fig. 2's shape at about 1/40 of the CIFAR net's FLOPs (5x5 conv1 at stride 1,
# 3x3/2 pools, LRN after conv1 and conv2, two towers, dropout 0.5 in fc6 and fc7), so that one
# seed of a full preset takes minutes on two cores. FC layers stay wide, as in AlexNet, where
# most parameters are (and where dropout acts). He init and standardised inputs: the paper's
# N(0, 0.01) starts a net this small with a vanishing signal (alexnet/model.py). Batch 64 at
# lr 0.01: on 5,000 images for 3 epochs (no dropout) it reached 58% training-sample error where
# batch 128 at lr 0.02 reached 74% and lr 0.05 swung between 78% and 87%.
ALEXNET_BASE = ExperimentConfig(
    net="alexnet", widths=(16, 32, 48, 48, 32, 512, 512), init="kaiming", inputs="standardised",
    activations=("relu",), lrs={"relu": (0.01,)}, batch_size=64, epochs=8.0, stop_at_target=False,
    weight_decay=5e-4, augment=True, lr_drop_at=0.75, record_every=10, test_every=1.0,
    subset=10_000, test_subset=5_000, train_eval_subset=2_000, target_error=0.3)
