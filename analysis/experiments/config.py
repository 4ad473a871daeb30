"""The convergence experiments' settings and initial weights (presets live with each
experiment: relu_tanh.py, lrn.py; the four-layer CNN in alexnet/cnn4.py).

ReLU vs tanh (AK 3.1, Fig. 1): "a four-layer convolutional neural network
with ReLUs reaches a 25% training error rate on CIFAR-10 six times faster
than an equivalent network with tanh neurons". The exact net is not given;
the stand-in is cuda-convnet's conv-pool x3 + fc. The gap is not automatic
(docs/papers.md, AK 3.1): with PyTorch's default init and standardised inputs both
train alike. The defaults here are the paper's own: centred raw 0-255 pixels
(AK 2) and N(0, 0.01) weights (AK 5). Then conv1's pre-activations have a
std of about 5, so tanh units start saturated and learn slowly, while ReLUs,
which do not saturate, just scale. Inputs, init, each activation's learning
rate and the run length are all part of the config and of every result.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from torch import nn

from alexnet.cnn4 import ACTIVATIONS, FourLayerCNN  # noqa: F401  (FourLayerCNN re-exported)

# N(0, init_std) weights, zero biases (the AlexNet: AK 5's N(0, 0.01) and unit biases); PyTorch's
# own; or He's (the AlexNet only: zero biases, a scale that keeps a deep ReLU net's signal).
INITS = ("paper-gaussian", "default", "kaiming")
# "cnn4": AK 3.1's four-layer CNN (alexnet/cnn4.py), widths conv1..conv3. "alexnet": the
# CIFAR-scale AlexNet (alexnet/model.py) with LRN, towers, dropout; widths conv1..conv5, fc6, fc7.
NETS = {"cnn4": 3, "alexnet": 7}
# "centred-raw": AK 2, "the (centred) raw RGB values": 0-255 minus the training
# set's mean image. "standardised": per-channel mean 0, std 1 (today's habit).
INPUTS = ("centred-raw", "standardised")
LR_RULES = ("fastest", "sweep")


@dataclass
class ExperimentConfig:
    """Everything that defines one run; saved inside every result."""

    activations: tuple[str, ...] = ("relu", "tanh")
    # Candidate learning rates per activation. More than one: a short sweep
    # (``sweep_epochs``) picks the one with the lowest training error over
    # the sweep's second half, and that run simply goes on (AK 3.1: "the
    # learning rates for each network were chosen independently to make
    # training as fast as possible").
    lrs: dict = field(default_factory=lambda: {"relu": (0.01,), "tanh": (0.01,)})
    sweep_epochs: float = 0.5
    # How each net's lr is picked from its candidates (relu_tanh.py). "fastest" (AK 3.1,
    # judged on the target): the fewest epochs to the target error, else the lowest error
    # at the cap. "sweep": the lowest error over a ``sweep_epochs`` sweep (the earlier
    # rule; the default, so results saved before this field read as what they were).
    lr_rule: str = "sweep"
    whole_grid: bool = False  # "fastest": every lr runs to the target or cap, not only until one wins
    input_scales: tuple[float, ...] = ()  # relu_tanh_saturation.py: the input scales compared
    init: str = "paper-gaussian"
    init_std: float = 0.01
    inputs: str = "centred-raw"
    # The inputs (``inputs``) times this: how hard the pictures drive conv1, so how saturated
    # tanh starts (relu_tanh_saturation.py). 1: the paper's.
    input_scale: float = 1.0
    net: str = "cnn4"  # which net the widths describe (NETS); the ablations' arms vary it
    widths: tuple[int, ...] = (32, 32, 64)  # cnn4: conv1..conv3 kernels, all 5x5; alexnet: 7 widths
    epochs: float = 30.0  # cap per net
    target_error: float = 0.25
    stop_at_target: bool = True  # a net stops once its training error passes the target
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 0.0  # AK 3.1: "no regularization of any kind"
    record_every: int = 20  # steps per training-error record (the running error over them)
    seed: int = 0  # initial weights, data order, subset
    subset: int = 0  # training images used (0: all); a seeded random subset
    test_subset: int = 0  # test images used by the LRN ablation (0: all)
    augment: bool = False  # random translations + flips (AK 4.1)
    lrn: bool = False  # LRN after act1 and act2 (the ablation runs both ways)
    lr_drop_at: float = 1.0  # fraction of the epochs after which lr /= 10
    test_every: float = 1.0  # epochs between test-error evaluations (the ablations)
    # Training images (a seeded sample) whose error is measured like the test error, in eval
    # mode and unaugmented, at every test point: the train-test gap (0: not measured).
    train_eval_subset: int = 0

    def __post_init__(self):
        self.activations = tuple(self.activations)
        self.widths = tuple(self.widths)
        self.input_scales = tuple(float(s) for s in self.input_scales)
        self.lrs = {k: tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else (v,)))
                    for k, v in self.lrs.items()}

    def validate(self) -> "ExperimentConfig":
        """Raise ValueError naming the bad setting and the valid choices."""
        for a in self.activations:
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r}; choose from {', '.join(ACTIVATIONS)}")
            if not self.lrs.get(a):
                raise ValueError(f"no learning rate given for {a!r}: set lrs[{a!r}], e.g. (0.01,)")
            if any(lr <= 0 for lr in self.lrs[a]):
                raise ValueError(f"learning rates must be > 0, got {self.lrs[a]} for {a!r}")
        if not self.activations:
            raise ValueError("no activations to compare; give e.g. ('relu', 'tanh')")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose from {', '.join(INITS)}")
        if self.net not in NETS:
            raise ValueError(f"unknown net {self.net!r}; choose from {', '.join(NETS)}")
        if self.init == "kaiming" and self.net != "alexnet":
            raise ValueError("init 'kaiming' is for the AlexNet (net='alexnet'); use paper-gaussian or default")
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"unknown lr_rule {self.lr_rule!r}; choose from {', '.join(LR_RULES)}")
        if any(s <= 0 for s in self.input_scales):
            raise ValueError(f"input_scales must all be > 0, got {self.input_scales}")
        if self.inputs not in INPUTS:
            raise ValueError(f"unknown inputs {self.inputs!r}; choose from {', '.join(INPUTS)}")
        checks = [("epochs", self.epochs > 0, "> 0"), ("batch_size", self.batch_size >= 1, ">= 1"),
                  ("record_every", self.record_every >= 1, ">= 1"),
                  ("target_error", 0 < self.target_error < 1, "in (0, 1)"),
                  ("init_std", self.init_std > 0, "> 0"), ("input_scale", self.input_scale > 0, "> 0"),
                  ("subset", self.subset >= 0, ">= 0"),
                  ("sweep_epochs", self.lr_rule != "sweep" or 0 < self.sweep_epochs <= self.epochs,
                   "in (0, epochs]"),
                  ("widths", len(self.widths) == NETS.get(self.net, 3) and min(self.widths) >= 1,
                   f"{NETS.get(self.net, 3)} positive ints for net {self.net!r}"),
                  ("test_every", self.test_every > 0, "> 0"),
                  ("train_eval_subset", self.train_eval_subset >= 0, ">= 0")]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"{name} must be {want}, got {getattr(self, name)!r}")
        return self

    def to_dict(self) -> dict:
        """Plain JSON types (tuples become lists), so a result survives a JSON round trip."""
        return json.loads(json.dumps(asdict(self)))

    def ran(self, saved: dict) -> bool:
        """Whether runs saved with config ``saved`` used these settings, seed aside (a field
        added since the file was saved reads with its default). Raises ValueError if unreadable."""
        return type(self).from_dict({**saved, "seed": self.seed}).to_dict() == self.to_dict()

    def grows(self, saved: dict) -> bool:
        """Whether a run saved with config ``saved`` is this one on a smaller lr grid: the same
        settings (seed aside), every net's lrs among these, at least one lr fewer."""
        try:
            old = type(self).from_dict({**saved, "seed": self.seed})
        except (ValueError, TypeError):
            return False
        same = replace(old, lrs=self.lrs).to_dict() == self.to_dict()
        return (same and old.lrs != self.lrs and old.lrs.keys() == self.lrs.keys()
                and all(set(old.lrs[a]) <= set(self.lrs[a]) for a in self.lrs))

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        if not d.get("init_stds", True):  # saved before the weight-scale sweep became the input's (2026-12)
            d = {k: v for k, v in d.items() if k != "init_stds"}
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)


def initial_state(config: ExperimentConfig) -> dict:
    """The initial weights every variant starts from: a function of the seed only.

    Activation and LRN have no parameters, so one state dict fits every variant.
    """
    with torch.random.fork_rng(devices=[]):  # the default init draws from the global RNG
        torch.manual_seed(config.seed)
        net = FourLayerCNN("relu", config.widths)
    if config.init == "paper-gaussian":
        g = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * config.init_std)
                    m.bias.zero_()
    return {k: v.clone() for k, v in net.state_dict().items()}
