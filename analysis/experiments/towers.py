"""Two towers against one (AK 3.2): the two-GPU net "reduces our top-1 and top-5
error rates by 1.7% and 1.2%, respectively, as compared with a net with half
as many kernels in each convolutional layer trained on one GPU".

"One tower" is the paper's one-GPU net, not the two-tower net with its
groups merged: half the kernels of conv1-conv4, all of them dense (no
grouped convolution: one GPU, nothing to keep apart), and, as the paper's
footnote says, conv5 and the FC layers kept whole, because most parameters
sit in fc6 and halving them too would have left a quarter of the
parameters (``alexnet.model.one_gpu_widths``). So the one-tower net is
nearly as big as the two-tower one (59.8M against 61.0M parameters at the
paper's size) and the comparison favours it. Both arms are built from the
ablations' CIFAR-scale AlexNet (``arms.ALEXNET_BASE``); the tensors whose
shapes match (conv5, the FC layers) start equal, the rest from the same seed.
"""

from __future__ import annotations

from dataclasses import replace

from alexnet.model import one_gpu_widths

from .arms import ALEXNET_BASE, Arm, alexnet_arm, difference, run_arms, summary
from .claims import Claim
from .config import ExperimentConfig
from .registry import Experiment, register_experiment
from .runs import ExperimentResult

PRESETS = {
    "full": replace(ALEXNET_BASE, train_eval_subset=0),
    "quick": replace(ALEXNET_BASE, subset=2_000, epochs=5.0, test_subset=1_000, train_eval_subset=0,
                     record_every=4),
}

CLAIMS = (Claim(
    "towers", "AK 3.2", "Two towers lower top-1 error by 1.7 points against the one-GPU net with half "
    "the kernels in conv1-conv4", -1.7, "points of test error (two towers - one tower)",
    difference("two-towers", "one-tower"),
    scaled_down="AK: ImageNet, 61.0M against 59.8M parameters, 90 epochs. Here: CIFAR-10, a narrow AlexNet "
                "(conv 16-32-48-48-32 against 8-16-24-24-32, fc 512), 10,000 training images with crops "
                "and flips, 8 epochs, top-1 only"),)


def arms(cfg: ExperimentConfig, train=None) -> list[Arm]:
    """The two-tower net of ``cfg.widths`` and AK 3.2's one-GPU net beside it."""
    return [alexnet_arm("two-towers", cfg, towers=2),
            alexnet_arm("one-tower", cfg, towers=1, widths=one_gpu_widths(cfg.widths))]


def run_towers(config: ExperimentConfig, train, test, progress=None, should_stop=None) -> ExperimentResult:
    """AK 3.2: the two-tower AlexNet against the one-GPU net of ``one_gpu_widths``."""
    cfg = config.validate()
    return run_arms("towers", cfg, arms(cfg), train, test, progress, should_stop)


register_experiment(Experiment(
    "towers", "Two towers vs one (AK 3.2)", "Error of the two-tower and the one-GPU net",
    "AK 3.2: two towers had **1.7** points lower top-1 error than a one-GPU net with half the kernels "
    "in each conv layer (conv5 and the FC layers kept whole)",
    run_towers, PRESETS, "towers_reference.json", summary, needs_test=True, claims=CLAIMS))
