"""alexnet.predict against torchvision's own TenCrop on PIL images (an independent path)."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T1

from alexnet.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.predict import predict
from alexnet.weights import LoadedModel


def photo(w=48, h=40, seed=0):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(a)


@pytest.fixture(scope="module")
def cifar():
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming")).eval()
    return LoadedModel("cifar-test", model, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, 32, {})


@pytest.fixture(scope="module")
def imagenet_like():
    torch.manual_seed(0)
    config = AlexNetConfig(variant="torchvision", towers=1, lrn=False, num_classes=7,
                           widths=(8, 8, 8, 8, 8, 16, 16), init="kaiming")
    classes = tuple(f"class{i}" for i in range(7))
    return LoadedModel("tv-test", AlexNet(config).eval(), classes, IMAGENET_MEAN, IMAGENET_STD, 224, {})


def reference(loaded, crops_pil):
    """Average softmax over a list of PIL crops, normalised by torchvision v1."""
    tf = T1.Compose([T1.ToTensor(), T1.Normalize(loaded.mean, loaded.std)])
    x = torch.stack([tf(c) for c in crops_pil])
    with torch.no_grad():
        return loaded.model(x).softmax(-1).mean(0)


def test_single_crop_cifar(cifar):
    img = photo(32, 32)
    p = predict(cifar, img)
    ref = reference(cifar, [img])
    assert p.crops == 1 and len(p.classes) == 5
    assert p.indices == ref.topk(5).indices.tolist()
    assert np.allclose(p.probs, ref.topk(5).values.numpy(), atol=1e-5)
    assert p.classes == [CIFAR10_CLASSES[i] for i in p.indices]
    assert p.probs == sorted(p.probs, reverse=True)


def test_ten_crop_cifar_pads_black_and_averages(cifar):
    img = photo(32, 32, seed=1)
    padded = ImageOps.expand(img, border=2, fill=(0, 0, 0))  # training's zero padding
    ref = reference(cifar, list(T1.TenCrop(32)(padded)))
    p = predict(cifar, img, k=10, use_ten_crop=True)
    assert p.crops == 10
    assert np.allclose(p.probs, ref[p.indices].numpy(), atol=1e-5)
    assert p.indices == ref.argsort(descending=True).tolist()


def test_ten_crop_imagenet_geometry(imagenet_like):
    img = photo(300, 260, seed=2)
    big = T1.CenterCrop(256)(T1.Resize(256)(img))
    ref = reference(imagenet_like, list(T1.TenCrop(224)(big)))
    p = predict(imagenet_like, img, k=3, use_ten_crop=True)
    assert np.allclose(p.probs, ref.topk(3).values.numpy(), atol=1e-5)
    assert p.indices == ref.topk(3).indices.tolist()
    assert len(p.classes) == 3


def test_mode_unchanged_and_bad_k(cifar):
    cifar.model.train()
    try:
        predict(cifar, photo(32, 32))
        assert cifar.model.training
    finally:
        cifar.model.eval()
    with pytest.raises(ValueError, match="k must be"):
        predict(cifar, photo(), k=0)
    assert len(predict(cifar, photo(), k=50).classes) == 10


def _calibrated(loaded, t, score, threshold):
    info = {"calibration": {"temperature": t},
            "unsure": {"score": score, "scores": {score: {"threshold": threshold}}}}
    return LoadedModel(loaded.name, loaded.model, loaded.classes, loaded.mean, loaded.std,
                       loaded.input_size, info)


@pytest.mark.parametrize("ten", [False, True])
def test_temperature_divides_the_logits(cifar, ten):
    img = photo(32, 32, seed=3)
    tf = T1.Compose([T1.ToTensor(), T1.Normalize(cifar.mean, cifar.std)])
    crops = [img] if not ten else list(T1.TenCrop(32)(ImageOps.expand(img, 2, fill=0)))
    with torch.no_grad():
        logits = cifar.model(torch.stack([tf(c) for c in crops]))
    hot = _calibrated(cifar, 3.0, "max-probability", 0.0)
    expect = (logits / 3.0).softmax(-1).mean(0)
    pred = predict(hot, img, k=10, use_ten_crop=ten)
    np.testing.assert_allclose(pred.probs, expect[pred.indices].numpy(), rtol=1e-4, atol=1e-6)
    assert pred.temperature == 3.0


def test_unsure_below_the_threshold(cifar):
    img = photo(32, 32, seed=4)
    p = predict(cifar, img)
    assert p.unsure is None and p.temperature == 1.0  # no manifest, no verdict
    top = predict(_calibrated(cifar, 1.0, "max-probability", 0.0), img).probs[0]
    assert predict(_calibrated(cifar, 1.0, "max-probability", top + 1e-3), img).unsure is True
    sure = predict(_calibrated(cifar, 1.0, "max-probability", top - 1e-3), img)
    assert sure.unsure is False and sure.score == pytest.approx(top, rel=1e-5)


def test_seen_by_net_is_the_input_before_normalisation(cifar, imagenet_like):
    from alexnet.predict import seen_by_net

    for loaded, img in ((cifar, photo(50, 40)), (imagenet_like, photo(300, 280))):
        seen = seen_by_net(loaded, img)  # (S, S, 3) uint8
        x = loaded.preprocess(img)[0]  # (3, S, S) normalised
        m, s = torch.tensor(loaded.mean).view(3, 1, 1), torch.tensor(loaded.std).view(3, 1, 1)
        back = ((x * s + m) * 255).round().permute(1, 2, 0)
        assert seen.shape == (loaded.input_size, loaded.input_size, 3) and seen.dtype == torch.uint8
        assert (back - seen.float()).abs().max() <= 1
