"""One step of minibatch SGD (AK 5), shared by ``alexnet.train`` and the
experiments (``analysis.experiments``): forward, cross-entropy, backward, update.

The two loops differ in what they do around a step (data order, schedules,
DDP, curves), not in the step itself, so that lives here once.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Callable

import torch

from .distill import Soft, training_loss


@dataclass(frozen=True)
class Step:
    """What one step measured on its batch, before the update."""

    loss: float  # the batch's mean loss: cross-entropy, or with soft targets the distillation mix
    wrong: int  # images whose top class was not their label
    size: int  # images in the batch


def sgd_step(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
             label_smoothing: float = 0.0, finite: Callable[[float], bool] = math.isfinite,
             bf16: bool = False, soft: Soft | None = None) -> Step | None:
    """Train ``net`` on one batch ``x`` (B, C, H, W), labels ``y`` (B,).

    ``finite(loss)`` judges the batch's loss before any gradient is taken; when
    it returns False nothing is updated and the step returns None (a loop may
    also raise from it). The caller sets the mode (``net.train()``) and the lr.
    ``bf16``: the forward pass under bfloat16 autocast (mixed precision: the
    weights and their update stay float32). ``soft``: teachers' soft targets for
    the batch, learnt beside the labels (``alexnet.distill.training_loss``).
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = net(x)  # (B, classes)
        loss = training_loss(logits, y, label_smoothing, soft)
    value = loss.item()
    if not finite(value):
        return None
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return Step(value, int((logits.argmax(1) != y).sum()), len(y))


def keep_freed_memory() -> None:
    """Keep freed activation buffers in the heap instead of unmapping them; call it
    once in a process that trains.

    glibc returns every block over 32 MB to the OS on free, so each step
    page-faults its large activations in again: about 30% of a CIFAR step
    on two cores. Training reuses the same sizes every step, so we keep them.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)  # M_MMAP_MAX = 0: never serve malloc from mmap
        libc.mallopt(-1, 1 << 40)  # M_TRIM_THRESHOLD: never give the heap back
    except OSError:
        pass  # not glibc: nothing to tune
