"""Top-k predictions for one picture, single-crop or the paper's 10-crop (AK 4.1).

Single crop uses the weights' own preprocessing (``LoadedModel.preprocess``).
10-crop takes the four corner crops, the centre crop and their mirror images
from a slightly larger picture and averages the ten softmax outputs, as AK
did at test time: ImageNet crops 224 from the 256x256 centre; CIFAR crops 32
from the 32x32 image padded by 2 black pixels each side, the geometry the
CIFAR net was trained on (``alexnet.data.random_crop_flip`` pads uint8 zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import cifar_ten_crop, normalize, ten_crop
from .weights import LoadedModel


@dataclass
class Prediction:
    """The k most probable classes, best first."""

    classes: list[str]
    probs: list[float]
    indices: list[int]
    crops: int  # 1 or 10


def _uint8_square(image, side: int) -> torch.Tensor:
    """PIL image -> (1, 3, side, side) uint8: shorter side resized to ``side``, centre-cropped."""
    from torchvision.transforms import v2 as T

    tf = T.Compose([T.Resize(side), T.CenterCrop(side), T.ToImage()])  # PIL resampling
    return tf(image.convert("RGB"))[None]


@torch.no_grad()
def class_probabilities(loaded: LoadedModel, image, use_ten_crop: bool = False) -> torch.Tensor:
    """(classes,) softmax probabilities for one PIL image; the model's mode is left as it is."""
    model = loaded.model
    device = next(model.parameters()).device
    if not use_ten_crop:
        return model(loaded.preprocess(image).to(device)).softmax(-1)[0]
    p = loaded.preprocessing
    if p.ten_crop == "padded":
        crops = cifar_ten_crop(_uint8_square(image, p.resize))  # (1, 10, 3, 32, 32)
    else:
        crops = ten_crop(_uint8_square(image, p.resize), p.input_size)  # (1, 10, 3, 224, 224), AK 4.1
    x = normalize(crops.flatten(0, 1), loaded.mean, loaded.std).to(device)  # (10, 3, s, s)
    return model(x).softmax(-1).mean(0)


def predict(loaded: LoadedModel, image, k: int = 5, use_ten_crop: bool = False) -> Prediction:
    """The top ``k`` classes for one PIL image (``k`` is capped at the number of classes)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    probs = class_probabilities(loaded, image, use_ten_crop)
    top = probs.topk(min(k, probs.numel()))
    idx = top.indices.tolist()
    return Prediction([loaded.classes[i] for i in idx], top.values.tolist(), idx,
                      10 if use_ten_crop else 1)
