"""Tiny generated image datasets for the training tests (no downloads).

Each class has its own colour and stripe direction, plus noise, so a small
net separates them within a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = np.array([[220, 40, 40], [40, 200, 60], [50, 70, 230], [230, 210, 40]], dtype=np.float32)


def class_image(label: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """(size, size, 3) uint8: class colour, stripes along one axis per class, noise."""
    stripes = (np.arange(size) // 4 % 2).astype(np.float32)  # 0,0,0,0,1,1,1,1,...
    pattern = stripes[:, None] if label % 2 else stripes[None, :]
    img = COLOURS[label % len(COLOURS)] * (0.6 + 0.4 * pattern)[..., None]
    img = img + rng.normal(0, 20, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_image_folder(root, classes: int = 4, per_class: int = 16, size: int = 32, seed: int = 0,
                      splits=("train", "val"), names=None) -> Path:
    """Write root/<split>/<class>/<i>.png; returns root."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = names or [f"class{c}" for c in range(classes)]
    for split in splits:
        for c, name in enumerate(names):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(class_image(c, rng, size)).save(root / split / name / f"{i:03d}.png")
    return root
