"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): a net that also learns
from trained nets' predictions on the same augmented images.

A teacher's softmax at a temperature T > 1 spreads its belief over the classes
it confuses ("this 3 looks a bit like an 8"); matching those soft targets
carries more per image than the label does. With several teachers the targets
are the mean of their softened probabilities, so one net learns an ensemble's
answers and ships alone. ``alexnet.train --teachers a.pt,b.pt`` loads them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .preprocessing import Preprocessing


@dataclass(frozen=True)
class Soft:
    """One batch's soft targets and how much the loss weighs them."""

    probs: torch.Tensor  # (B, classes): the teachers' mean softmax at ``temperature``
    temperature: float
    weight: float  # of the distillation term; the labels' cross-entropy gets 1 - weight


def training_loss(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0,
                  soft: Soft | None = None) -> torch.Tensor:
    """The loss a step minimises: cross-entropy against the labels (AK 5), and with
    ``soft``, Hinton et al.'s mix

        (1 - w) * CE(logits, y) + w * T^2 * KL(teachers' p_T || softmax(logits / T))

    The T^2 keeps the soft term's gradients the size of the hard term's as T changes.
    """
    hard = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if soft is None:
        return hard
    t = soft.temperature
    log_student = F.log_softmax(logits.float() / t, dim=1)
    kl = F.kl_div(log_student, soft.probs, reduction="batchmean")
    return (1 - soft.weight) * hard + soft.weight * t * t * kl


class Teachers:
    """Trained nets in eval mode (``to`` moves them to the student's device), whose
    mean softened prediction is a batch's soft targets."""

    def __init__(self, paths: list[str], feed: Preprocessing):
        from .weights import load_path, sha256

        if not paths:
            raise ValueError("--teachers needs at least one checkpoint")
        self.nets, self.classes, self.files = [], [], []
        for p in paths:
            path = Path(p).expanduser()
            loaded = load_path(path)  # refuses what is not a checkpoint, in one line
            fed = loaded.preprocessing
            if (fed.input_size, fed.mean, fed.std) != (feed.input_size, feed.mean, feed.std):
                raise ValueError(f"teacher {path} was trained on {fed.input_size}x{fed.input_size} "
                                 f"images normalised by mean {fed.mean}, std {fed.std}; this run feeds "
                                 f"{feed.input_size}x{feed.input_size} by {feed.mean}, {feed.std}: "
                                 "give teachers of the same variant")
            for param in loaded.model.parameters():
                param.requires_grad_(False)
            self.nets.append(loaded.model.eval())
            self.classes.append(loaded.classes)
            self.files.append({"path": str(path), "sha256": sha256(path)})

    def check_classes(self, classes) -> None:
        """Refuse teachers whose classes are not the run's, in its order."""
        for file, theirs in zip(self.files, self.classes):
            if theirs != tuple(classes):
                raise ValueError(f"teacher {file['path']} predicts the classes {', '.join(theirs[:10])}, "
                                 f"not this run's ({', '.join(tuple(classes)[:10])}): give teachers "
                                 "trained on the same dataset")

    def to(self, device, memory_format=torch.contiguous_format, dtype=None) -> Teachers:
        """The teachers on ``device``, in ``memory_format`` (the student's), their weights
        in ``dtype``. ``torch.bfloat16`` casts them once for a bf16 run: autocast would
        cast them again on every batch, to the same numbers (tests/test_distill.py)."""
        self.nets = [net.to(device, dtype, memory_format=memory_format) for net in self.nets]
        return self

    @torch.no_grad()
    def soft(self, x: torch.Tensor, temperature: float, weight: float, bf16: bool = False) -> Soft:
        """The batch ``x``'s soft targets: the teachers' mean softmax at ``temperature``."""
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            probs = sum(F.softmax(net(x).float() / temperature, dim=1) for net in self.nets)
        return Soft(probs / len(self.nets), temperature, weight)

    def check_same(self, saved: list[dict], where) -> None:
        """Refuse to resume a run with teachers other than those it began with."""
        ours = [f["sha256"] for f in self.files]
        if not saved:
            raise SystemExit(f"{where} was trained without --teachers: resume it without them, or "
                             "start a new run with them")
        if [f["sha256"] for f in saved] != ours:
            was = ", ".join(f["path"] for f in saved)
            raise SystemExit(f"{where} was distilled from {was}; the --teachers files now differ "
                             "from those (other files, or the same paths rewritten). Give the "
                             "original files, or start a new run")
