"""Top-1 and top-5 error, single-crop and 10-crop (AK 4.1, 6).

    python -m alexnet.evaluate --weights cifar10 --data-dir ~/data/cifar10 --ten-crop
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Errors:
    top1: float
    top5: float
    n: int

    def __str__(self) -> str:
        return f"top-1 error {self.top1:.2%}, top-5 error {self.top5:.2%} on {self.n} images"


def topk_errors(logits: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """Number of top-1 and top-5 mistakes in a batch of (B, classes) scores."""
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (B, k)
    hit = top == labels[:, None]
    return int((~hit[:, 0]).sum()), int((~hit.any(1)).sum())


CHUNK = 128  # images per forward pass: the activations of a few thousand at once spill out of
#   the CPU's caches, and a 10-crop batch of 500 is 5,000 (bench/bench_evaluate.py)


def chunked(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
            chunk: int = CHUNK) -> torch.Tensor:
    """``model(x)`` a chunk of images at a time (the same numbers, less memory traffic)."""
    return torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])


@torch.no_grad()
def evaluate(model: nn.Module, batches, ten_crop=None, progress: bool = False,
             chunk: int = CHUNK) -> Errors:
    """Errors of ``model`` over (images, labels) batches.

    ``ten_crop``: a function (N, C, H, W) -> (N, 10, C, h, w); the softmax of
    the ten crops is averaged, as in AK 4.1. The caller sets the model's mode.
    ``chunk``: images per forward pass (``chunked``).
    """
    e1 = e5 = n = 0
    device = next(model.parameters()).device
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="evaluating", unit="batch")
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        if ten_crop is None:
            scores = chunked(model, x, chunk)
        else:
            crops = ten_crop(x)  # (B, 10, C, h, w)
            b = crops.shape[0]
            probs = chunked(model, crops.flatten(0, 1), chunk).softmax(-1)  # (B*10, classes)
            scores = probs.view(b, 10, -1).mean(1)
        a, b5 = topk_errors(scores, y)
        e1, e5, n = e1 + a, e5 + b5, n + len(y)
    return Errors(e1 / max(n, 1), e5 / max(n, 1), n)


def _folder_batches(loaded, data_dir, batch_size: int, limit: int, workers: int, skip_bad: bool):
    """(single-crop batches, 10-crop batches) of an ImageFolder ``data_dir``, streamed."""
    from pathlib import Path

    from .augment import FolderStream, test_transform

    root = Path(data_dir).expanduser()
    root = root / "val" if (root / "val").is_dir() else root
    if loaded.dataset != "imagenet":  # its preprocessing, from the weights registry
        raise SystemExit(f"--dataset imagenet-folder needs a model of ImageNet-style 224x224 images; "
                         f"{loaded.name} takes {loaded.dataset} images of "
                         f"{loaded.input_size}x{loaded.input_size}")

    def stream(crop):
        s = FolderStream(root, batch_size, test_transform(crop, loaded.mean, loaded.std),
                         train=False, workers=workers, limit=limit, skip_bad=skip_bad)
        if len(s.classes) != len(loaded.classes):
            raise SystemExit(f"{root} has {len(s.classes)} class folders but {loaded.name} "
                             f"predicts {len(loaded.classes)} classes")
        return s.epoch(0)

    # Single crop: the 224 centre; 10-crop: from the whole 256x256 centre (AK 4.1).
    return stream(224), stream(256)


def main(argv=None) -> None:
    from .crops import cifar_ten_crop, ten_crop
    from .data import BatchIterator, load_cifar10, normalised_black
    from .weights import load_model

    p = argparse.ArgumentParser(prog="python -m alexnet.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--weights", default="cifar10",
                   help="a registry name (cifar10, imagenet) or a checkpoint written by alexnet.train")
    p.add_argument("--dataset", default="cifar10", choices=["cifar10", "imagenet-folder"],
                   help="imagenet-folder: --data-dir holds val/<class>/ images (or is that folder)")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder with test/<class>/ images")
    p.add_argument("--download", action="store_true", help="let torchvision download CIFAR-10")
    p.add_argument("--ten-crop", action="store_true", help="also report 10-crop errors")
    p.add_argument("--shifted", action="store_true",
                   help="also report top-1 on the shifted test set (alexnet/shifted.py: zoom, blur, "
                        "JPEG, colour, contrast) and the calibration error (cifar10 only)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--limit", type=int, default=0, help="evaluate N test images, a fixed random subset (0: all)")
    p.add_argument("--workers", type=int, default=4, help="image decoding processes (imagenet-folder)")
    p.add_argument("--skip-bad-images", action="store_true",
                   help="leave out (and count) images that cannot be decoded instead of stopping")
    a = p.parse_args(argv)

    loaded = load_model(a.weights)
    model = loaded.model.eval()
    if a.dataset == "imagenet-folder":
        if not a.data_dir:
            raise SystemExit("--dataset imagenet-folder needs --data-dir (a folder of class folders)")
        single, ten = _folder_batches(loaded, a.data_dir, a.batch_size, a.limit, a.workers,
                                      a.skip_bad_images)
        crops = lambda x: ten_crop(x, 224)  # noqa: E731
    else:
        data = load_cifar10(a.data_dir, train=False, download=a.download, skip_bad=a.skip_bad_images)
        if a.limit:  # a seeded random subset: the test set is sorted by class
            keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:a.limit]
            data.images, data.labels = data.images[keep], data.labels[keep]
        single = ten = list(BatchIterator(data, a.batch_size, train=False, mean=loaded.mean,
                                          std=loaded.std).epoch(0))
        black = normalised_black(loaded.mean, loaded.std)
        crops = lambda x: cifar_ten_crop(x, fill=black)  # noqa: E731
    print("single crop:", evaluate(model, single, progress=True))
    if a.ten_crop:
        print("10-crop:    ", evaluate(model, ten, ten_crop=crops, progress=True))
    if a.shifted and a.dataset == "cifar10":
        _print_shifted(model, loaded, data)


def _print_shifted(model, loaded, data) -> None:
    """Top-1 per shift, and ECE with the model's own temperature (1 if it has none)."""
    from .calibration import reliability
    from .predict import calibration_of
    from .shifted import SHIFTS, shifted_set
    from .trust import logits_of

    t, _ = calibration_of(loaded)
    ece = reliability((logits_of(model, data.images, loaded.mean, loaded.std) / t).softmax(1), data.labels).ece
    print(f"calibration: expected calibration error {ece:.2%} (15 bins, temperature {t:.3f})")
    accs = []
    for name in SHIFTS:
        logits = logits_of(model, shifted_set(data.images, name), loaded.mean, loaded.std)
        accs.append(float((logits.argmax(1) == data.labels).double().mean()))
        print(f"shifted ({name:8s}): top-1 accuracy {accs[-1]:.2%}")
    print(f"shifted (mean    ): top-1 accuracy {sum(accs) / len(accs):.2%} on {len(data)} images per shift")


if __name__ == "__main__":
    from .checkpoint import CheckpointError
    from .weights import WeightsUnavailable

    try:
        main()
    except (OSError, CheckpointError, WeightsUnavailable, ValueError) as e:  # the user's to fix: no traceback
        raise SystemExit(f"error: {e}") from None
