"""Overlapping pooling (AK 3.4): max-pooling 3x3 windows at stride 2 instead of
2x2 at stride 2 "reduces the top-1 and top-5 error rates by 0.4% and 0.3%",
and "models with overlapping pooling find it slightly more difficult to overfit".

Both arms are the ablations' CIFAR-scale AlexNet (``arms.ALEXNET_BASE``);
only the three pools differ. On 32x32 inputs 3x3/2 (padding 1) and 2x2/2
both give 32 -> 16 -> 8 -> 4, so every weight has the same shape and both
arms start from the same weights. Overfitting is read as the train-test gap:
final test error minus the error on a fixed sample of the training images,
both in eval mode.
"""

from __future__ import annotations

from dataclasses import replace

from .arms import ALEXNET_BASE, Arm, alexnet_arm, difference, run_arms, summary
from .claims import Claim
from .config import ExperimentConfig
from .registry import Experiment, register_experiment
from .runs import ExperimentResult

PRESETS = {
    # A gap needs a net that can overfit: 10,000 images, no augmentation (the paper had
    # 1.2M images and augmentation, and trained 90 epochs).
    "full": replace(ALEXNET_BASE, augment=False),
    "quick": replace(ALEXNET_BASE, augment=False, subset=2_000, epochs=5.0, test_subset=1_000,
                     train_eval_subset=1_000, record_every=4),
}

SCALED = ("AK: ImageNet, 224x224, the full AlexNet, 90 epochs, top-1 and top-5 over 1000 classes. "
          "Here: CIFAR-10, a narrow AlexNet (conv 16-32-48-48-32, fc 512), 10,000 training images "
          "without augmentation, 8 epochs, top-1 only (top-5 of 10 classes says little)")
CLAIMS = (
    Claim("pooling", "AK 3.4", "Overlapping pooling (3x3, stride 2) lowers top-1 error by 0.4 points "
          "against 2x2, stride 2", -0.4, "points of test error (overlapping - non-overlapping)",
          difference("overlapping", "non-overlapping"), scaled_down=SCALED),
    Claim("pooling", "AK 3.4", "Nets with overlapping pooling find it slightly more difficult to overfit",
          None, "points of train-test gap (overlapping - non-overlapping)",
          difference("overlapping", "non-overlapping", of="gap"), scaled_down=SCALED, direction=-1),
)


def arms(cfg: ExperimentConfig, train=None) -> list[Arm]:
    """3x3 pools at stride 2 (AlexNet's own) and 2x2 at stride 2."""
    return [alexnet_arm("overlapping", cfg), alexnet_arm("non-overlapping", cfg, overlapping_pool=False)]


def run_pooling(config: ExperimentConfig, train, test, progress=None, should_stop=None) -> ExperimentResult:
    """AK 3.4: the same AlexNet and weights with 3x3/2 and with 2x2/2 pools; test error and gap."""
    cfg = config.validate()
    return run_arms("pooling", cfg, arms(cfg), train, test, progress, should_stop)


register_experiment(Experiment(
    "pooling", "Overlapping pooling (AK 3.4)", "Error with overlapping and non-overlapping pools",
    "AK 3.4: 3x3 pools at stride 2 instead of 2x2 lowered top-1 error by **0.4** points and made the "
    "net slightly harder to overfit",
    run_pooling, PRESETS, "pooling_reference.json", summary, needs_test=True, claims=CLAIMS))
