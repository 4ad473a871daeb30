"""A shifted CIFAR-10 test set: the test images as ordinary photos differ from
them, in the spirit of CIFAR-10-C (Hendrycks and Dietterich, 2019).

Each shift is applied to every test image at a severity drawn per image
(seeded, so the set is the same on every machine with the same data):

- ``zoom``: a crop of 55-80% of the side scaled back up (the object larger
  and softer), or the image shrunk to 60-85% and framed by its own edge
  pixels (the object smaller);
- ``blur``: Gaussian blur, sigma 0.6-1.2 px (out of focus, or a large
  photo scaled down without antialiasing);
- ``jpeg``: re-encoded at quality 10-30;
- ``colour``: hue rotated by up to 0.08 of a turn and saturation scaled by
  0.4-1.6 (white balance, filters);
- ``contrast``: contrast 0.35-0.7 and brightness 0.7-1.3 (haze, exposure).

Images stay uint8 (N, 3, 32, 32); the torchvision v2 functional ops do the
work, so each shift is what a reader of torchvision's docs expects.
"""

from __future__ import annotations

import torch

SHIFTS = ("zoom", "blur", "jpeg", "colour", "contrast")


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _zoom(img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    side = img.shape[-1]
    if torch.rand((), generator=g) < 0.5:  # closer: crop and enlarge
        s = round(side * _u(g, 0.55, 0.8))
        top, left = (int(torch.randint(0, side - s + 1, (), generator=g)) for _ in range(2))
        return TF.resized_crop(img, top, left, s, s, [side, side], antialias=True)
    s = round(side * _u(g, 0.6, 0.85))  # farther: shrink and frame with the edge pixels
    small = TF.resize(img, [s, s], antialias=True)
    pad = side - s
    left, top = (int(torch.randint(0, pad + 1, (), generator=g)) for _ in range(2))
    return TF.pad(small, [left, top, pad - left, pad - top], padding_mode="edge")


def shift_image(img: torch.Tensor, shift: str, g: torch.Generator) -> torch.Tensor:
    """One uint8 (3, H, W) image under ``shift``, severity drawn from ``g``."""
    from torchvision.transforms.v2 import functional as TF

    if shift == "zoom":
        return _zoom(img, g)
    if shift == "blur":
        s = _u(g, 0.6, 1.2)
        return TF.gaussian_blur(img, [5, 5], [s, s])
    if shift == "jpeg":
        return TF.jpeg(img, round(_u(g, 10, 30)))
    if shift == "colour":
        return TF.adjust_saturation(TF.adjust_hue(img, _u(g, -0.08, 0.08)), _u(g, 0.4, 1.6))
    if shift == "contrast":
        return TF.adjust_brightness(TF.adjust_contrast(img, _u(g, 0.35, 0.7)), _u(g, 0.7, 1.3))
    raise ValueError(f"unknown shift {shift!r}; choose from {', '.join(SHIFTS)}")


def shifted_set(images: torch.Tensor, shift: str, seed: int = 0) -> torch.Tensor:
    """Every uint8 (N, 3, H, W) image under ``shift``; image i's severity is a
    function of (seed, shift, i) alone, so the set is the same on every run."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose from {', '.join(SHIFTS)}")
    out = torch.empty_like(images)
    for i, img in enumerate(images):
        g = torch.Generator().manual_seed(seed * 1_000_003 + SHIFTS.index(shift) * 100_003 + i)
        out[i] = shift_image(img, shift, g)
    return out
