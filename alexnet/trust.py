"""How far a CIFAR-10 model's answers can be trusted, measured for its manifest:
calibration, the "I am not sure" threshold, and accuracy under shift.

    report = trust_report(model, mean, std, held_out, test)

``held_out`` are training images the net never trained on (``--val-split``):
the temperature and the unsure threshold are fitted there, never on the test
set, which only measures. Photos of things outside the ten classes are not
available offline, so the unsure score is also checked against stand-ins:
uniform noise, and test images whose 8x8 patches were shuffled (colours and
textures kept, objects gone). Real out-of-class photos are the true test.
"""

from __future__ import annotations

import torch
from torch import nn

from .calibration import (KNN_K, SCORES, auroc, fit_temperature, reliability, threshold_keeping,
                          unsure_scores)
from .data import TensorDataset, normalize
from .evaluate import CHUNK, chunked
from .shifted import SHIFTS, shifted_set

KEEP = 0.95  # share of held-out CIFAR-10 images the unsure threshold lets through


@torch.no_grad()
def logits_of(model: nn.Module, images: torch.Tensor, mean, std, batch: int = CHUNK) -> torch.Tensor:
    """(N, classes) float64 logits of uint8 (N, 3, H, W) images; the caller sets eval mode."""
    device = next(model.parameters()).device
    return chunked(lambda x: model(normalize(x.to(device), mean, std)).double().cpu(), images, batch)


@torch.no_grad()
def features_and_logits(model, images: torch.Tensor, mean, std, batch: int = CHUNK
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, D) float32 penultimate features, (N, classes) float64 logits) of uint8 images, in
    one pass (``model.roles.penultimate``: act7 in AlexNet); the caller sets eval mode."""
    device = next(model.parameters()).device
    layer = model.roles.penultimate
    feats, logits = [], []
    for i in range(0, len(images), batch):
        f = model.forward_until(normalize(images[i:i + batch].to(device), mean, std), layer)
        feats.append(f.flatten(1).float().cpu())
        logits.append(model.run_from(layer, f).double().cpu())
    return torch.cat(feats), torch.cat(logits)


def stand_ins(images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Out-of-class stand-ins made from uint8 (N, 3, 32, 32) images."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 256, images.shape, generator=g, dtype=torch.uint8)
    n, c, h, w = images.shape
    tiles = images.reshape(n, c, h // 8, 8, w // 8, 8).permute(0, 2, 4, 1, 3, 5).reshape(n, -1, c, 8, 8)
    order = torch.argsort(torch.rand(n, tiles.shape[1], generator=g), 1)  # each image its own shuffle
    tiles = tiles[torch.arange(n)[:, None], order]
    shuffled = tiles.reshape(n, h // 8, w // 8, c, 8, 8).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)
    return {"uniform noise": noise, "shuffled 8x8 patches": shuffled}


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).double().mean())


def trust_report(model: nn.Module, mean, std, held_out: TensorDataset, test: TensorDataset,
                 seed: int = 0, progress=lambda what: None, reference: torch.Tensor | None = None) -> dict:
    """Calibration, unsure threshold and shifted accuracy, as a manifest block. ``reference``:
    penultimate features of training images the net trained on (``features_and_logits``), for
    the "knn" score; without them it is left out. The reference images must not be held out."""
    progress("held-out images")
    held_f, held = features_and_logits(model, held_out.images, mean, std)
    t = fit_temperature(held, held_out.labels)
    progress("test images")
    clean_f, clean = features_and_logits(model, test.images, mean, std)
    before = reliability(clean.softmax(1), test.labels)
    after = reliability((clean / t).softmax(1), test.labels)

    progress("stand-ins for out-of-class pictures")
    outside = {k: features_and_logits(model, v, mean, std) for k, v in stand_ins(test.images, seed).items()}
    scores = {}
    for s in SCORES if reference is not None else [s for s in SCORES if s != "knn"]:
        score = lambda f, logits: unsure_scores(logits, t, s, f, reference)  # noqa: E731
        threshold = threshold_keeping(score(held_f, held), KEEP)
        inside = score(clean_f, clean)
        away = {k: score(*v) for k, v in outside.items()}  # each stand-in scored once
        scores[s] = {"threshold": threshold,
                     "test_kept": float((inside >= threshold).double().mean()),
                     "stand_ins": {k: {"flagged": float((a < threshold).double().mean()),
                                       "auroc": auroc(inside, a)}
                                   for k, a in away.items()}}
    if reference is not None:
        scores["knn"]["k"], scores["knn"]["references"] = KNN_K, len(reference)
    # The score that better separates the stand-ins from real test images.
    best = max(scores, key=lambda s: sum(v["auroc"] for v in scores[s]["stand_ins"].values()))

    shifted = {}
    for name in SHIFTS:
        progress(f"shifted test set: {name}")
        shifted[name] = _accuracy(logits_of(model, shifted_set(test.images, name, seed), mean, std),
                                  test.labels)
    return {
        "calibration": {
            "temperature": t, "fitted_on": f"{len(held_out)} held-out training images (--val-split)",
            "test_ece_before": before.ece, "test_ece_after": after.ece, "bins": len(after.count),
            "reliability_after": after.to_dict(), "reliability_before": before.to_dict(),
            "held_out_top1_accuracy": _accuracy(held, held_out.labels)},
        "unsure": {"score": best, "keep": KEEP, "scores": scores,
                   "meaning": f"below the threshold a picture looks less like the ten classes than "
                              f"{KEEP:.0%} of held-out CIFAR-10 pictures do"},
        "shifted_test": {"shifts": shifted, "mean_top1_accuracy": sum(shifted.values()) / len(shifted),
                         "clean_top1_accuracy": _accuracy(clean, test.labels),
                         "definition": "alexnet/shifted.py: every test image under each shift, "
                                       f"severity drawn per image from seed {seed}"},
    }
