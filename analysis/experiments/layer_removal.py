"""Removing layers (ZF Table 3, ZF 5.x): from their AlexNet replica (40.5% top-1
validation error) ZF took out conv3 and conv4 (45.4%), fc6 and fc7 (44.8%),
or all four (71.3%): either pair alone costs a few points, both together a
great deal, so "the overall depth of the model is important".

Four arms of the ablations' CIFAR-scale AlexNet (``arms.ALEXNET_BASE``),
``AlexNetConfig.removed`` taking the layers out and the next layer reading
what the last one left (without conv3-conv4, conv5 reads conv2's pooled
maps; without fc6-fc7, fc8 reads the flattened pool5). The tensors whose
shapes stay the same start equal. ZF retrained each net; so do we.
"""

from __future__ import annotations

from dataclasses import replace

from .arms import ALEXNET_BASE, Arm, alexnet_arm, difference, run_arms, summary
from .claims import Claim
from .config import ExperimentConfig
from .registry import Experiment, register_experiment
from .runs import ExperimentResult

ARMS = {"all": (), "no-conv3-4": ("conv3", "conv4"), "no-fc6-7": ("fc6", "fc7"),
        "no-conv3-4-fc6-7": ("conv3", "conv4", "fc6", "fc7")}

PRESETS = {
    "full": replace(ALEXNET_BASE, epochs=6.0, train_eval_subset=0),  # four nets: 6 epochs, not 8
    "quick": replace(ALEXNET_BASE, subset=2_000, epochs=3.0, test_subset=1_000, train_eval_subset=0,
                     record_every=4),
}

SCALED = ("ZF: ImageNet, their AlexNet replica, top-1 validation error. Here: CIFAR-10, a narrow AlexNet "
          "(conv 16-32-48-48-32, fc 512), 10,000 training images with crops and flips, 6 epochs")
CLAIMS = tuple(
    Claim("layer-removal", "ZF Table 3", f"Without {what} top-1 error rises by {paper:g} points", paper,
          f"points of test error ({arm} - all)", difference(arm, "all"), scaled_down=SCALED)
    for arm, what, paper in (("no-conv3-4", "conv3 and conv4", 4.9), ("no-fc6-7", "fc6 and fc7", 4.3),
                             ("no-conv3-4-fc6-7", "conv3, conv4, fc6 and fc7", 30.8)))


def arms(cfg: ExperimentConfig, train=None) -> list[Arm]:
    """The AlexNet whole, and without each set of layers in ``ARMS``."""
    return [alexnet_arm(name, cfg, removed=removed) for name, removed in ARMS.items()]


def run_layer_removal(config: ExperimentConfig, train, test, progress=None,
                      should_stop=None) -> ExperimentResult:
    """ZF Table 3: the AlexNet whole, without conv3-4, without fc6-7, without all four."""
    cfg = config.validate()
    return run_arms("layer-removal", cfg, arms(cfg), train, test, progress, should_stop)


register_experiment(Experiment(
    "layer-removal", "Layer removal (ZF Table 3)", "Error with layers removed",
    "ZF Table 3: without conv3-conv4 top-1 error rose **4.9** points, without fc6-fc7 **4.3**, without "
    "all four **30.8**",
    run_layer_removal, PRESETS, "layer_removal_reference.json", summary, needs_test=True, claims=CLAIMS))
