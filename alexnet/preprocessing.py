"""How a set of weights wants its images: the dataset they come from, mean/std,
input size, the resize before the centre crop, and the paper's 10 crops (AK 4.1).

Every preprocessing choice in the project reads one of these (the weights
registry's entries, ``alexnet.predict``, ``alexnet.train``); nothing guesses
it from the size of an image or a net.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class Preprocessing:
    """What a net's weights were trained on and how to feed them a picture."""

    dataset: str  # where the training images came from: "cifar10", "imagenet"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int  # side of the square crop the net takes
    resize: int  # the shorter side is resized to this before the centre crop
    # AK 4.1's 10 crops: "corners" = four corners + centre of the resize x resize
    # centre, and mirrors (ImageNet); "padded" = the same crops of the image padded
    # by 2 black pixels (CIFAR, the geometry its random crops were trained on).
    ten_crop: str

    def steps(self) -> list:
        """torchvision v2 transforms: PIL image -> (3, S, S) normalised tensor; the last two
        (to float, normalise) are dropped to see the picture as the net gets it."""
        from torchvision.transforms import v2 as T

        return [T.ToImage(), T.Resize(self.resize), T.CenterCrop(self.input_size),
                T.ToDtype(torch.float32, scale=True), T.Normalize(self.mean, self.std)]

    def transform(self, image) -> torch.Tensor:
        """A PIL image -> (1, 3, S, S) normalised tensor."""
        from torchvision.transforms import v2 as T

        return T.Compose(self.steps())(image.convert("RGB"))[None]


CIFAR10 = Preprocessing("cifar10", CIFAR10_MEAN, CIFAR10_STD, 32, 32, "padded")
IMAGENET = Preprocessing("imagenet", IMAGENET_MEAN, IMAGENET_STD, 224, 256, "corners")
DATASETS = {p.dataset: p for p in (CIFAR10, IMAGENET)}
# What ``alexnet.train`` feeds each AlexNet variant, so what its checkpoints expect.
FOR_VARIANT = {"cifar": CIFAR10, "imagenet": IMAGENET, "torchvision": IMAGENET}
