"""Data augmentation (AK 4.1): random crops and their mirror images, and PCA
colour noise, which "reduces the top-1 error rate by over 1%".

Three arms of the ablations' CIFAR-scale AlexNet (``arms.ALEXNET_BASE``),
from the same weights, on the same images in the same order:

- ``none``: the images as they are;
- ``crop-flip``: AK's 224 crops of 256 images and their mirrors, at CIFAR
  scale: crops of the image padded by 4 pixels (shifts of up to 4 of 32
  pixels, the paper's 32 of 256) and a mirror half the time
  (``alexnet.crops.random_crop_flip``);
- ``crop-flip-pca``: the same crops and flips (the same draws), then AK's
  colour noise: to every pixel of an image add ``V (alpha * lam)``, V and lam
  the eigenvectors and eigenvalues of the training images' 3x3 RGB
  covariance (pixels in [0, 1]), alpha ~ N(0, 0.1) per image and use
  (``alexnet.photo_augment.pca_offsets``).

All arms are tested on the plain test images (AK averaged 10 crops).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from alexnet.crops import random_crop_flip
from alexnet.photo_augment import pca_offsets, rgb_pca

from .arms import ALEXNET_BASE, Arm, alexnet_arm, difference, run_arms, summary
from .claims import Claim
from .config import ExperimentConfig
from .registry import Experiment, register_experiment
from .runs import ExperimentResult

PRESETS = {
    "full": ALEXNET_BASE,
    "quick": replace(ALEXNET_BASE, subset=2_000, epochs=4.0, test_subset=1_000, train_eval_subset=1_000,
                     record_every=4),
}

SCALED = ("AK: ImageNet, 224 crops of 256 images, 90 epochs, 10-crop testing. Here: CIFAR-10, a narrow "
          "AlexNet (conv 16-32-48-48-32, fc 512), 10,000 training images, 8 epochs, 4-pixel shifts of "
          "32x32 images, the plain image at test time")
CLAIMS = (
    Claim("augmentation", "AK 4.1", "PCA colour noise lowers top-1 error by over 1 point", -1.0,
          "points of test error (with - without colour noise, both with crops and flips)",
          difference("crop-flip-pca", "crop-flip"), scaled_down=SCALED),
    Claim("augmentation", "AK 4.1", "Without crops and flips the net overfits substantially", None,
          "points of train-test gap (no augmentation - crops and flips)",
          difference("none", "crop-flip", of="gap"), scaled_down=SCALED, direction=1),
)


def unchanged(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The ``none`` arm's augmentation: the batch as it is."""
    return x


def with_pca_noise(eigvals: torch.Tensor, eigvecs: torch.Tensor, seed: int):
    """Crops and flips, then AK 4.1's colour noise; uint8 (N, 3, H, W) -> float on the 0-255 scale.

    The noise has its own generator, so the crops and flips draw exactly what
    the ``crop-flip`` arm's do, batch for batch."""
    noise = torch.Generator().manual_seed(seed)

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = random_crop_flip(x, g).float()
        offsets = pca_offsets(len(x), noise, eigvals, eigvecs).to(x.device)  # drawn on the CPU, as everywhere
        return x + 255 * offsets[:, :, None, None]  # lam in [0, 1] units
    return augment


def arms(cfg: ExperimentConfig, train) -> list[Arm]:
    """No augmentation; crops and flips; crops, flips and colour noise from ``train``'s RGB PCA."""
    eigvals, eigvecs = (t.cpu() for t in rgb_pca(train.images))  # the training set's RGB covariance (its first 10,000)
    return [alexnet_arm("none", cfg, augment=unchanged), alexnet_arm("crop-flip", cfg, augment=random_crop_flip),
            alexnet_arm("crop-flip-pca", cfg, augment=with_pca_noise(eigvals, eigvecs, cfg.seed))]


def run_augmentation(config: ExperimentConfig, train, test, progress=None,
                     should_stop=None) -> ExperimentResult:
    """AK 4.1: the same AlexNet and weights with no augmentation, crops and flips, and
    crops and flips with PCA colour noise."""
    cfg = config.validate()
    return run_arms("augmentation", cfg, arms(cfg, train), train, test, progress, should_stop)


register_experiment(Experiment(
    "augmentation", "Augmentation (AK 4.1)", "Error with and without augmentation",
    "AK 4.1: without crops and flips the net overfits substantially; PCA colour noise lowers top-1 "
    "error by **over 1** point",
    run_augmentation, PRESETS, "augmentation_reference.json", summary, needs_test=True, claims=CLAIMS))
