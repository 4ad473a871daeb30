"""Top-k predictions for one picture, single-crop or the paper's 10-crop (AK 4.1).

Single crop uses the weights' own preprocessing (``LoadedModel.preprocess``).
10-crop takes the four corner crops, the centre crop and their mirror images
from a slightly larger picture and averages the ten softmax outputs, as AK
did at test time: ImageNet crops 224 from the 256x256 centre; CIFAR crops 32
from the 32x32 image padded by 2 black pixels each side, the geometry the
CIFAR net was trained on (``alexnet.crops.random_crop_flip`` pads uint8 zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .crops import cifar_ten_crop, ten_crop
from .data import normalize
from .weights import LoadedModel


@dataclass
class Prediction:
    """The k most probable classes, best first.

    ``temperature`` is the one the probabilities were divided by (1: the raw
    softmax). ``unsure`` is None when the weights carry no threshold, else
    whether the picture scored below it (``alexnet.calibration``).
    """

    classes: list[str]
    probs: list[float]
    indices: list[int]
    crops: int  # 1 or 10
    temperature: float = 1.0
    unsure: bool | None = None
    score: float | None = None
    threshold: float | None = None


def calibration_of(loaded: LoadedModel) -> tuple[float, dict | None]:
    """(temperature, unsure rule or None) from the weights' manifest; (1, None) without one.
    A "knn" rule also says where its reference features lie (``reference_features`` reads them)."""
    t = float(loaded.info.get("calibration", {}).get("temperature", 1.0))
    rule = loaded.info.get("unsure")
    if rule is None:
        return t, None
    out = {"score": rule["score"], "threshold": rule["scores"][rule["score"]]["threshold"]}
    if rule["score"] == "knn":
        out["reference"] = rule["reference"]
    return t, out


def reference_features(reference: dict) -> torch.Tensor:
    """The "knn" rule's (M, D) reference features, from the file the manifest names (beside
    the weights), refused unless its sha256 matches; read once while the file is unchanged."""
    try:
        stat = Path(reference["path"]).stat()
        stamp = (stat.st_size, stat.st_mtime_ns)  # a replaced file is read and checked again
    except OSError:
        stamp = None
    return _reference_features(reference["path"], reference["sha256"], stamp)


@lru_cache(maxsize=4)
def _reference_features(path: str, sha: str, stamp) -> torch.Tensor:
    from .checkpoint import CheckpointError, load_checkpoint
    from .weights import sha256

    if stamp is None or sha256(path) != sha:
        raise CheckpointError(f"{path}, the unsure score's reference features, is missing or does not "
                              "match the sha256 in the manifest; restore pretrained/ from the repository")
    return load_checkpoint(path)["features"].float()


def _uint8_square(image, side: int) -> torch.Tensor:
    """PIL image -> (1, 3, side, side) uint8: shorter side resized to ``side``, centre-cropped."""
    from torchvision.transforms import v2 as T

    tf = T.Compose([T.Resize(side), T.CenterCrop(side), T.ToImage()])  # PIL resampling
    return tf(image.convert("RGB"))[None]


def seen_by_net(loaded: LoadedModel, image) -> torch.Tensor:
    """The picture as the net gets it, before normalisation: uint8 (S, S, 3).

    ``loaded.preprocess`` without its last two steps (to float, normalise).
    """
    from torchvision.transforms import v2 as T

    steps = loaded.preprocess_steps()[:-2]
    return T.Compose(steps)(image.convert("RGB")).permute(1, 2, 0)


def _inputs(loaded: LoadedModel, image, use_ten_crop: bool) -> torch.Tensor:
    """(1, 3, s, s) the normalised centre crop, or (10, 3, s, s) the ten crops, on the model's device."""
    device = next(loaded.model.parameters()).device
    if not use_ten_crop:
        return loaded.preprocess(image).to(device)
    p = loaded.preprocessing
    if p.ten_crop == "padded":
        crops = cifar_ten_crop(_uint8_square(image, p.resize))  # (1, 10, 3, 32, 32)
    else:
        crops = ten_crop(_uint8_square(image, p.resize), p.input_size)  # (1, 10, 3, 224, 224), AK 4.1
    return normalize(crops.flatten(0, 1), loaded.mean, loaded.std).to(device)  # (10, 3, s, s)


@torch.no_grad()
def _logits(loaded: LoadedModel, image, use_ten_crop: bool) -> torch.Tensor:
    """(1, classes) logits of the centre crop, or (10, classes) of the ten crops."""
    return loaded.model(_inputs(loaded, image, use_ten_crop))


def class_probabilities(loaded: LoadedModel, image, use_ten_crop: bool = False) -> torch.Tensor:
    """(classes,) probabilities for one PIL image, calibrated with the weights'
    temperature when they carry one (10 crops: their softmaxes averaged, AK 4.1).
    The model's mode is left as it is."""
    t, _ = calibration_of(loaded)
    return (_logits(loaded, image, use_ten_crop) / t).softmax(-1).mean(0)


def predict(loaded: LoadedModel, image, k: int = 5, use_ten_crop: bool = False) -> Prediction:
    """The top ``k`` classes for one PIL image (``k`` is capped at the number of classes)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    from .calibration import unsure_scores

    t, rule = calibration_of(loaded)
    knn = rule is not None and rule["score"] == "knn"
    if knn:  # the same pass gives the penultimate features the score compares
        model, layer = loaded.model, loaded.model.roles.penultimate
        with torch.no_grad():
            features = model.forward_until(_inputs(loaded, image, use_ten_crop), layer)
            logits = model.run_from(layer, features)
    else:
        logits = _logits(loaded, image, use_ten_crop)
    probs = (logits / t).softmax(-1).mean(0)
    top = probs.topk(min(k, probs.numel()))
    idx = top.indices.tolist()
    pred = Prediction([loaded.classes[i] for i in idx], top.values.tolist(), idx,
                      10 if use_ten_crop else 1, temperature=t)
    if rule is not None:  # scored on the centre crop, as the threshold was set
        centre = slice(4, 5) if use_ten_crop else slice(0, 1)
        pred.score = float(unsure_scores(
            logits[centre].float().cpu(), t, rule["score"],
            features[centre].flatten(1).float().cpu() if knn else None,
            reference_features(rule["reference"]) if knn else None)[0])
        pred.threshold = rule["threshold"]
        pred.unsure = pred.score < pred.threshold
    return pred
