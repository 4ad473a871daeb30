"""Data and augmentation against independent references: hand-cut crops,
the PCA noise's covariance from its formula, numpy's covariance, torchvision's
own CIFAR-10 reader, and torchvision's TenCrop."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet import augment
from alexnet.augment import FolderStream, PCALighting, open_image_folder, pca_basis, train_transform
from alexnet.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, BatchIterator, load_cifar10, ten_crop

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_data import class_image, make_image_folder  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))


def test_ten_crop_geometry():
    x = torch.arange(2 * 6 * 8, dtype=torch.float32).view(1, 2, 6, 8)  # (N, C, H=6, W=8)
    crops = ten_crop(x, 4)
    assert crops.shape == (1, 10, 2, 4, 4)
    m = x[..., torch.arange(7, -1, -1)]  # the mirror image, by index
    expected = [x[..., 0:4, 0:4], x[..., 0:4, 4:8], x[..., 2:6, 0:4], x[..., 2:6, 4:8],
                x[..., 1:5, 2:6],  # centre: top = (6-4)/2 = 1, left = (8-4)/2 = 2
                m[..., 0:4, 0:4], m[..., 0:4, 4:8], m[..., 2:6, 0:4], m[..., 2:6, 4:8], m[..., 1:5, 2:6]]
    for i, e in enumerate(expected):
        assert torch.equal(crops[:, i], e), i
    with pytest.raises(ValueError, match="smaller than the crop"):
        ten_crop(x, 7)  # taller than the 6-row image


def test_pca_lighting_statistics():
    torch.manual_seed(0)
    vecs, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))  # orthonormal columns
    lam = torch.tensor([0.25, 0.06, 0.01], dtype=torch.float64)
    light = PCALighting(lam, vecs)
    n = 40_000
    out = light(torch.zeros(n, 3, 2, 2))  # the added offsets themselves
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))  # one offset for all pixels
    off = out[:, :, 0, 0].double()  # (n, 3)
    expected = vecs @ torch.diag(0.1 ** 2 * lam ** 2) @ vecs.T  # AK 4.1
    # Standard error of the mean is sqrt(diag(cov)/n); allow 4 of them.
    assert (off.mean(0).abs() <= 4 * (expected.diagonal() / n).sqrt()).all()
    cov = torch.cov(off.T)
    # Sample covariance entry (i, j) has variance (S_ii S_jj + S_ij^2) / n for Gaussian data.
    se = ((expected.diagonal()[:, None] * expected.diagonal()[None] + expected ** 2) / n).sqrt()
    assert ((cov - expected).abs() <= 4 * se + 1e-12).all(), (cov, expected)
    # A fresh draw every time the same image is used; a single image works too.
    img = torch.full((3, 4, 4), 0.5)
    assert not torch.equal(light(img), light(img)) and light(img).shape == (3, 4, 4)


def test_pca_basis_matches_numpy_and_is_cached(tmp_path):
    root = make_image_folder(tmp_path / "d", classes=3, per_class=4, size=16, splits=("train",))
    vals, vecs = pca_basis(root / "train", samples=100)
    # Reference: numpy's covariance of every pixel of the 256x256 patches.
    pixels = []
    for p in sorted((root / "train").rglob("*.png")):
        im = Image.open(p).convert("RGB").resize((256, 256), Image.BILINEAR)
        pixels.append(np.asarray(im, dtype=np.float64).reshape(-1, 3) / 255)
    cov = np.cov(np.concatenate(pixels).T, bias=True)
    ref_vals, ref_vecs = np.linalg.eigh(cov)
    np.testing.assert_allclose(vals.numpy(), ref_vals[::-1], rtol=0.03)
    for i in range(3):  # eigenvectors up to sign
        assert abs(float(vecs[:, i].double() @ torch.from_numpy(ref_vecs[:, 2 - i]))) > 0.99
    cached = list((tmp_path / "cache").glob("pca-*.pt"))
    assert len(cached) == 1
    torch.save({"eigvals": torch.ones(3), "eigvecs": torch.eye(3)}, cached[0])  # proves it is read
    assert torch.equal(pca_basis(root / "train", samples=100)[0], torch.ones(3))


def test_train_transform_shapes_and_stream(tmp_path):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=6, size=32, splits=("train",))
    tf = train_transform(torch.tensor([0.05, 0.01, 0.001]), torch.eye(3))
    img = Image.fromarray(class_image(0, np.random.default_rng(0), 40))
    x = tf(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    s = FolderStream(root / "train", 4, tf, train=True, seed=3, workers=2)
    assert s.classes == ("class0", "class1") and len(s) == 3
    a, b = list(s.epoch(1)), list(s.epoch(1))
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    c = list(s.epoch(2))
    assert not torch.equal(torch.cat([x for x, _ in a]), torch.cat([x for x, _ in c]))
    # Two DDP ranks split one epoch into disjoint halves of the 12 images.
    from alexnet.augment import test_transform

    seen = [[float(x.sum()) for xb, _ in FolderStream(root / "train", 4, test_transform(32), train=True,
                                                      seed=3, rank=r, world=2, workers=0).epoch(1)
             for x in xb] for r in range(2)]
    assert len(seen[0]) == len(seen[1]) == 6 and len(set(seen[0]) | set(seen[1])) == 12


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(FileNotFoundError, match="has no class sub-folders"):
        open_image_folder(tmp_path / "flat")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="no images found in the class folders"):
        open_image_folder(tmp_path / "empty")


def _write_cifar_pickles(root: Path, images: np.ndarray, labels: list[int]) -> None:
    """torchvision's cifar-10-batches-py layout: (N, 3072) uint8 rows, R then G then B planes."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # (N, 32, 32, 3) -> (N, 3072)
    parts = np.array_split(np.arange(len(images)), 5)
    for i, part in enumerate(parts, 1):
        batch = {"data": rows[part], "labels": [labels[j] for j in part]}
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    (d / "test_batch").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}))


def test_cifar10_same_classes_and_normalisation_either_way(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    # Two images per class, written in a shuffled order to the pickles.
    labels = [c for c in range(10) for _ in range(2)]
    images = np.stack([class_image(c % 4, rng) for c in labels])
    images[:, 0, 0] = np.array(labels)[:, None] * 20  # tag pixel: the class, whatever the colour
    order = rng.permutation(len(labels))
    _write_cifar_pickles(tmp_path / "pickled", images[order], [labels[i] for i in order])
    for i, (img, c) in enumerate(zip(images, labels)):
        folder = tmp_path / "tree" / "train" / CIFAR10_CLASSES[c]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    # torchvision checks the official archive's md5s; our hand-written batches
    # have other bytes, so bypass only that check (the files must still exist).
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    pickled = load_cifar10(tmp_path / "pickled", train=True)
    tree = load_cifar10(tmp_path / "tree", train=True)
    assert pickled.classes == tree.classes == CIFAR10_CLASSES
    key = lambda ds: {bytes(ds.images[i].numpy()): int(ds.labels[i]) for i in range(len(ds))}  # noqa: E731
    assert key(pickled) == key(tree)  # the same image has the same label either way
    # Normalisation: BatchIterator vs torchvision's ToTensor + Normalize on the PNG.
    from torchvision import transforms as T

    ref_tf = T.Compose([T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    for ds in (pickled, tree):
        x, y = next(BatchIterator(ds, len(ds), train=False).epoch(0))
        for i in range(len(ds)):
            png = Image.fromarray(ds.images[i].permute(1, 2, 0).numpy())
            torch.testing.assert_close(x[i], ref_tf(png))
            assert int(ds.images[i][0, 0, 0]) == 20 * int(y[i])  # the tag matches the label


def test_imagenet_folder_training_and_ten_crop_evaluation(tmp_path, capsys):
    from torchvision import transforms as T

    from alexnet.data import IMAGENET_MEAN, IMAGENET_STD
    from alexnet.evaluate import main as evaluate_main
    from alexnet.train import main as train_main
    from alexnet.weights import load_path

    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=32)
    train_main(["--dataset", "imagenet-folder", "--variant", "imagenet", "--data-dir", str(root),
                "--widths", "8,16,16,16,16,32,32", "--epochs", "1", "--batch-size", "4",
                "--workers", "0", "--threads", "1", "--init", "kaiming", "--out", str(tmp_path / "run")])
    assert list((tmp_path / "cache").glob("pca-*.pt"))  # the PCA basis was computed and cached
    ckpt = tmp_path / "run" / "last.pt"
    evaluate_main(["--weights", str(ckpt), "--dataset", "imagenet-folder", "--data-dir", str(root),
                   "--ten-crop", "--workers", "0", "--batch-size", "3"])
    printed = capsys.readouterr().out
    ten = float(printed.split("10-crop:")[1].split("top-1 error")[1].split("%")[0]) / 100
    # Reference: torchvision's classic TenCrop on the 256x256 centre, softmax averaged.
    from torchvision.transforms import v2

    patch = v2.Compose([v2.ToImage(), v2.Resize(256), v2.CenterCrop(256),
                        v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    tf = T.Compose([patch, T.TenCrop(224), T.Lambda(torch.stack)])
    model = load_path(ckpt).model
    wrong = 0
    for label, cls in enumerate(("class0", "class1")):
        for p in sorted((root / "val" / cls).glob("*.png")):
            with torch.no_grad():
                probs = model(tf(Image.open(p).convert("RGB"))).softmax(-1).mean(0)
            wrong += int(probs.argmax()) != label
    assert ten == pytest.approx(wrong / 8)
