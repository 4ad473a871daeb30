"""--augment photo and --label-smoothing: each piece against an independent
reference (numpy's covariance, a normalised convolution, torch's own flip),
and the training command's checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alexnet.photo_augment as pa
from alexnet.data import BatchIterator, TensorDataset
from alexnet.train import main


def _images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def test_rgb_pca_matches_numpy():
    x = _images()
    vals, vecs = pa.rgb_pca(x)
    px = x.permute(1, 0, 2, 3).reshape(3, -1).double().numpy() / 255
    ref_vals, ref_vecs = np.linalg.eigh(np.cov(px))
    np.testing.assert_allclose(vals.numpy(), ref_vals[::-1], rtol=1e-4)
    # Eigenvectors up to sign.
    dots = np.abs((vecs.numpy() * ref_vecs[:, ::-1]).sum(0))
    np.testing.assert_allclose(dots, 1.0, atol=1e-4)


def test_blur_is_a_normalised_gaussian_convolution(monkeypatch):
    monkeypatch.setattr(pa, "BLUR_P", 1.0)  # blur every image
    x = torch.rand(3, 3, 32, 32)
    g = torch.Generator().manual_seed(1)
    out = pa._blur(x, g)
    # The same draws: rand(n) for the pick, then the sigmas.
    g2 = torch.Generator().manual_seed(1)
    torch.rand(3, generator=g2)
    sigma = pa._uniform(3, *pa.BLUR_SIGMA, g2)
    for i, s in enumerate(sigma.tolist()):
        d = torch.arange(-31, 32, dtype=torch.float32)
        k1 = torch.exp(-d ** 2 / (2 * s ** 2))
        k2 = (k1[:, None] * k1[None])[None, None].repeat(3, 1, 1, 1)  # (3, 1, 63, 63)
        num = F.conv2d(x[i:i + 1], k2, padding=31, groups=3)
        den = F.conv2d(torch.ones(1, 3, 32, 32), k2, padding=31, groups=3)
        torch.testing.assert_close(out[i:i + 1], num / den, rtol=1e-4, atol=1e-5)


def test_unit_crop_with_flip_is_a_mirror(monkeypatch):
    """With the whole image as the crop and no shift, the affine resample is
    the identity or torch.flip."""
    monkeypatch.setattr(pa, "SCALE", (1.0, 1.0))
    monkeypatch.setattr(pa, "ASPECT", (1.0, 1.0))
    monkeypatch.setattr(pa, "SHIFT", 0.0)
    x = torch.rand(32, 3, 32, 32)
    theta = pa._crops(32, torch.Generator().manual_seed(0))
    out = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False),
                        align_corners=False)
    flipped = theta[:, 0, 0] < 0
    assert 0 < int(flipped.sum()) < 32  # both cases occur
    torch.testing.assert_close(out[~flipped], x[~flipped], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[flipped], torch.flip(x[flipped], [-1]), atol=1e-5, rtol=0)


def test_colour_without_jitter_adds_one_pca_offset_per_image(monkeypatch):
    monkeypatch.setattr(pa, "JITTER", 0.0)
    x = torch.rand(8, 3, 32, 32)
    vals, vecs = torch.tensor([0.2, 0.02, 0.002]), torch.linalg.qr(torch.randn(3, 3))[0]
    out = pa._colour(x, torch.Generator().manual_seed(3), vals, vecs)
    shift = out - x  # (8, 3, 32, 32): constant over pixels
    torch.testing.assert_close(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-6, rtol=0)
    # In the eigenbasis the offset is alpha * lambda: its spread per axis follows lambda.
    coeffs = shift[:, :, 0, 0] @ vecs  # (8, 3)
    assert coeffs[:, 0].abs().mean() > coeffs[:, 2].abs().mean() * 10


def test_same_seed_same_batches_and_range():
    data = TensorDataset(_images(40), torch.arange(40) % 10, tuple("abcdefghij"))
    a = list(BatchIterator(data, 16, train=True, seed=5, augment="photo").epoch(2))
    b = list(BatchIterator(data, 16, train=True, seed=5, augment="photo").epoch(2))
    c = list(BatchIterator(data, 16, train=True, seed=5, augment="crop-flip").epoch(2))
    for (xa, ya), (xb, yb), (xc, _) in zip(a, b, c):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert not torch.allclose(xa, xc)
    with pytest.raises(ValueError, match="unknown augmentation 'sepia'"):
        BatchIterator(data, 16, train=True, augment="sepia")


@pytest.mark.parametrize("args, says", [
    (["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1)"),
    (["--augment", "sepia"], "unknown --augment 'sepia'"),
    (["--augment", "photo", "--dataset", "imagenet-folder", "--variant", "imagenet"],
     "--augment applies to in-memory datasets"),
])
def test_bad_settings_are_refused(tmp_path, args, says):
    with pytest.raises(SystemExit, match=says.replace("[", r"\[").replace(")", r"\)")):
        main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out"), *args])
