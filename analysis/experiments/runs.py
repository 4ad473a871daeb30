"""Running the experiments: pure functions of (config, data) returning results.

Training error is the *running* error: the fraction of mistakes the net made
on the last ``record_every`` batches while it trained on them (what
cuda-convnet printed, and cheap: no extra passes). Each record's x value is
the number of epochs done at the end of its window (N images seen / N), so a
curve lags the net by at most half a window. Epochs to the target error are
interpolated linearly between the two records either side of the crossing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from alexnet.crops import random_crop_flip
from alexnet.data import normalize
from alexnet.step import sgd_step

from .config import ExperimentConfig


class Stopped(Exception):
    """Raised inside a run when ``should_stop()`` says so."""


@dataclass
class Curve:
    """One net's curve: training error at fractional epochs; optional test error."""

    lr: float
    epochs: list = field(default_factory=list)
    train_error: list = field(default_factory=list)
    test_epochs: list = field(default_factory=list)
    test_error: list = field(default_factory=list)
    diverged: bool = False
    # error on a fixed sample of training images, measured as the test error is (eval mode,
    # no augmentation) at test_epochs: test_error minus this is the train-test gap
    train_eval_error: list = field(default_factory=list)


@dataclass
class ExperimentResult:
    """What a run produced; ``to_dict``/``from_dict`` round-trip through JSON."""

    experiment: str  # the registered experiment's name
    config: dict
    curves: dict  # name ("relu", "tanh" / "lrn", "no-lrn" / an ablation's arms) -> Curve
    sweep: dict = field(default_factory=dict)  # name -> {lr: sweep training error} (lr_rule "sweep")
    # name -> {lr: epochs_to_target, error, diverged, epochs, curve} (lr_rule "fastest"):
    # every lr of the grid, so one sees whether the outcome hinges on the pick
    grid: dict = field(default_factory=dict)
    epochs_to_target: dict = field(default_factory=dict)  # name -> float, or None if not reached
    ratio: float | None = None  # tanh epochs / relu epochs, when both reached the target
    ratio_lower_bound: float | None = None  # epochs cap / relu epochs, when only relu did
    test_error: dict = field(default_factory=dict)  # name -> final test error (the ablations)
    train_error: dict = field(default_factory=dict)  # name -> final error on the training sample
    stopped: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentResult":
        d = dict(d)
        d["curves"] = {k: Curve(**v) for k, v in d["curves"].items()}
        return cls(**d)


def epochs_to_target(epochs, errors, target: float) -> float | None:
    """First epoch at which the curve reaches ``target``, linearly interpolated."""
    for i, (x, e) in enumerate(zip(epochs, errors)):
        if e <= target:
            if i == 0:
                return float(x)
            x0, e0 = epochs[i - 1], errors[i - 1]
            return float(x0 + (e0 - target) / (e0 - e) * (x - x0))
    return None


def _check_data(data, what: str) -> None:
    if data is None or len(data) == 0:
        raise ValueError(f"the {what} data is empty: load CIFAR-10 with "
                         "alexnet.data.load_cifar10(data_dir) or pass a non-empty TensorDataset")
    if data.images.dtype != torch.uint8 or data.images.dim() != 4 or data.images.shape[-1] != 32:
        raise ValueError(f"{what} images must be uint8 (N, 3, 32, 32), got "
                         f"{data.images.dtype} {tuple(data.images.shape)}")


def input_transform(cfg: ExperimentConfig, train_images: torch.Tensor):
    """uint8 (N, 3, 32, 32) -> the float input the nets see, as ``cfg.inputs`` and
    ``cfg.input_scale`` say."""
    scale = cfg.input_scale
    if cfg.inputs == "standardised":
        return lambda x: normalize(x) * scale  # times 1.0 is exact: the paper's inputs unchanged
    total = torch.zeros(train_images.shape[1:], dtype=torch.float64, device=train_images.device)
    for i in range(0, len(train_images), 4096):  # the mean image, without a float copy of the set
        total += train_images[i:i + 4096].sum(0, dtype=torch.float64)
    mean = (total / len(train_images)).float()  # (3, 32, 32), 0-255 scale
    return lambda x: (x.float() - mean) * scale


def _subset(images, labels, n: int, seed: int):
    if not n or n >= len(labels):
        return images, labels
    keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return images[keep], labels[keep]


class _Trainer:
    """One net at one learning rate, trained in pieces so a sweep can pick and continue."""

    def __init__(self, name, net, lr, images, labels, cfg: ExperimentConfig, inputs, augment=None):
        self.name, self.cfg, self.images, self.labels = name, cfg, images, labels
        # augment(uint8 batch, generator) -> the batch, uint8 or float on the 0-255 scale;
        # None: crops and flips when cfg.augment says so
        self.augment = augment if augment is not None else (random_crop_flip if cfg.augment else None)
        # channels-last: CPU max-pooling is many times faster, a step ~15% faster in all.
        # The net trains where the images are (the CLI's --device moves them there).
        self.net = net.to(device=images.device, memory_format=torch.channels_last)
        self.inputs = inputs  # uint8 batch -> float input
        self.opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        self.curve = Curve(lr=lr)
        self.n = len(labels)
        self.steps_per_epoch = math.ceil(self.n / cfg.batch_size)
        self.step, self.window, self.order, self.gen = 0, [0, 0], None, None
        self.done = False
        self.wrong_seen = [0, 0]  # mistakes and images since mark(): the sweep's score

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    def reached(self) -> float | None:
        return epochs_to_target(self.curve.epochs, self.curve.train_error, self.cfg.target_error)

    def state(self) -> dict:
        """Everything ``train_until`` reads and writes: a trainer restored from it goes on
        exactly as if it had never stopped (same weights, momentum, data order, curve)."""
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "curve": asdict(self.curve),
                "step": self.step, "window": list(self.window), "wrong_seen": list(self.wrong_seen),
                "done": self.done, "order": self.order,
                "gen": None if self.gen is None else self.gen.get_state()}

    def restore(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.curve = Curve(**state["curve"])
        self.step, self.done, self.order = state["step"], state["done"], state["order"]
        self.window, self.wrong_seen = list(state["window"]), list(state["wrong_seen"])
        self.gen = None
        if state["gen"] is not None:
            self.gen = torch.Generator()
            self.gen.set_state(state["gen"])

    def train_until(self, until_epoch: float, should_stop, on_record) -> None:
        cfg, net = self.cfg, self.net
        last = math.ceil(round(until_epoch * self.steps_per_epoch, 6))
        net.train()
        while self.step < last and not self.done:
            if should_stop():
                raise Stopped
            e, i = divmod(self.step, self.steps_per_epoch)
            if i == 0:  # the data order of epoch e is a function of (seed, e): the same for all nets
                self.gen = torch.Generator().manual_seed(cfg.seed * 100_003 + e)
                self.order = torch.randperm(self.n, generator=self.gen)
            idx = self.order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            x, y = self.images[idx], self.labels[idx]
            if self.augment is not None:
                x = self.augment(x, self.gen)
            for g in self.opt.param_groups:  # AK 5: lr / 10 late in training
                g["lr"] = self.curve.lr * (0.1 if self.epoch >= cfg.lr_drop_at * cfg.epochs else 1.0)
            # The same step as alexnet.train's loop (alexnet.step).
            s = sgd_step(net, self.opt, self.inputs(x).contiguous(memory_format=torch.channels_last), y)
            if s is None:
                self.curve.diverged = self.done = True  # this lr is too high: the sweep drops it
                return
            wrong = s.wrong
            for acc in (self.window, self.wrong_seen):
                acc[0] += wrong
                acc[1] += len(y)
            self.step += 1
            if self.step % cfg.record_every == 0:
                self.curve.epochs.append(self.step / self.steps_per_epoch)
                self.curve.train_error.append(self.window[0] / self.window[1])
                self.window = [0, 0]
                if cfg.stop_at_target and self.reached() is not None:
                    self.done = True
                on_record(self)


def _reporter(progress, result, budget):
    done_before = {"epochs": 0.0}

    def on_record(t: _Trainer) -> None:
        if progress is None:
            return
        result.curves[t.name] = t.curve
        frac = min(1.0, (done_before["epochs"] + t.epoch) / budget)
        progress({"experiment": result.experiment, "net": t.name, "lr": t.curve.lr,
                  "epoch": t.epoch, "train_error": t.curve.train_error[-1], "fraction": frac,
                  "partial": result.to_dict()})
    return on_record, done_before


def stats(values) -> dict:
    """Mean, spread, range and per-seed values of one number over seeds (None: not reached)."""
    v = [x for x in values if x is not None]
    if not v:
        return {"per_seed": values, "n": 0}
    mean = sum(v) / len(v)
    std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
    return {"per_seed": values, "n": len(v), "mean": mean, "std": std, "min": min(v), "max": max(v)}


def summarize(results) -> dict:
    """Mean, spread and per-seed values over several seeds' results: epochs to the
    target and lrs for every experiment, then what its own ``summary`` adds, then
    its claims measured (mean, 95% interval, verdict)."""
    names = list(results[0].curves) if results else []
    out = {"epochs_to_target": {n: stats([r.epochs_to_target.get(n) for r in results]) for n in names},
           "lr": {n: [r.curves[n].lr for r in results] for n in names}}
    if results:
        from .claims import measure
        from .registry import experiment  # the registry imports this module

        e = experiment(results[0].experiment)
        out.update(e.summary(results))
        if e.claims:  # each claim's effect over the seeds and its verdict (claims.measure)
            out["claims"] = [{"source": c.source, "statement": c.statement, "paper": c.paper, "unit": c.unit,
                              **asdict(measure(c, results))} for c in e.claims]
    return out

