"""Data and augmentation against independent references: hand-cut crops of
padded copies, the PCA noise's covariance from its formula, numpy's covariance,
torchvision's own CIFAR-10 and ImageFolder readers with ToTensor + Normalize,
CIFAR-10's published class names and statistics, and torchvision's TenCrop."""

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from alexnet.augment import FolderStream, PCALighting, open_image_folder, pca_basis, train_transform
from alexnet.crops import cifar_ten_crop, random_crop_flip, ten_crop
from alexnet.data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, BatchIterator, load_cifar10, normalised_black

from tests.synthetic_data import class_image, make_image_folder


pytestmark = pytest.mark.usefixtures("isolated_cache")


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
    assert len(a) == len(b) == 3  # zip below would pass on two empty epochs
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


# CIFAR-10 as its authors publish it, written out here rather than taken from
# alexnet.data, so a wrong constant there cannot agree with itself.
OFFICIAL_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                    "dog", "frog", "horse", "ship", "truck")  # batches.meta's label_names, in order
PUBLISHED_MEAN = (0.4914, 0.4822, 0.4465)  # per channel, training set, pixels in [0, 1]
PUBLISHED_STD = (0.2470, 0.2435, 0.2616)  # over all pixels (not the mean of per-image stds)
# Measured once with numpy over this machine's copy, ~/.cache/alexnet-data/cifar10/train/
# (50,000 JPEGs): every image decoded by PIL to RGB, /255, then the mean and the population
# std of each channel over all 51.2M pixels. JPEG's smoothing lowers the std by about 0.002.
MEASURED_MEAN = (0.49125, 0.48209, 0.44652)
MEASURED_STD = (0.24523, 0.24278, 0.26063)


def test_cifar10_constants_are_the_published_ones():
    assert CIFAR10_CLASSES == OFFICIAL_CLASSES
    np.testing.assert_allclose(CIFAR10_MEAN, PUBLISHED_MEAN, atol=1e-6)
    np.testing.assert_allclose(CIFAR10_STD, PUBLISHED_STD, atol=1e-6)
    np.testing.assert_allclose(CIFAR10_MEAN, MEASURED_MEAN, atol=1e-3)
    np.testing.assert_allclose(CIFAR10_STD, MEASURED_STD, atol=3e-3)


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
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": list(OFFICIAL_CLASSES)}))


def _nearest(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image of x (N, ...), the index of the closest image of ref (M, ...) and the
    mean absolute difference to it."""
    dist = (x[:, None] - ref[None]).abs().flatten(2).mean(-1)  # (N, M)
    best = dist.min(1)
    return best.indices, best.values


def test_cifar10_same_classes_and_normalisation_either_way(tmp_path, monkeypatch):
    from torchvision import datasets
    from torchvision import transforms as T

    rng = np.random.default_rng(0)
    labels = [c for c in range(10) for _ in range(2)]  # picture p shows class labels[p]
    # (20, 32, 32, 3): random colours in 8x8 blocks, so each picture is far from every
    # other (mean |difference| about 1.0 once normalised) and survives JPEG (about 0.13).
    pictures = np.stack([np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)
                         for _ in labels])
    order = rng.permutation(len(labels))  # the archive holds them shuffled
    _write_cifar_pickles(tmp_path / "archive", pictures[order], [labels[p] for p in order])
    for p, c in enumerate(labels):  # the tree: folders named as the archive names the classes
        folder = tmp_path / "tree" / "train" / OFFICIAL_CLASSES[c]
        folder.mkdir(parents=True, exist_ok=True)
        if p % 3:
            Image.fromarray(pictures[p]).save(folder / f"{p:02d}.png")
        else:  # some JPEGs too, as the real tree has
            Image.fromarray(pictures[p]).save(folder / f"{p:02d}.jpg", quality=95)
    # torchvision checks the official archive's md5s; our hand-written batches
    # have other bytes, so bypass only that check (the files must still exist).
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    # References: torchvision's own readers, with ToTensor + Normalize(published numbers).
    ref_tf = T.Compose([T.ToTensor(), T.Normalize(PUBLISHED_MEAN, PUBLISHED_STD)])
    refs = {"archive": datasets.CIFAR10(str(tmp_path / "archive"), train=True, transform=ref_tf),
            "tree": datasets.ImageFolder(str(tmp_path / "tree" / "train"), transform=ref_tf)}
    assert tuple(refs["archive"].classes) == OFFICIAL_CLASSES
    assert refs["archive"].targets == [labels[p] for p in order]
    # The official order is alphabetical, so ImageFolder's sorted folders agree with it.
    assert refs["tree"].class_to_idx == {name: i for i, name in enumerate(OFFICIAL_CLASSES)}
    pictures_x = torch.stack([ref_tf(Image.fromarray(a)) for a in pictures])  # (20, 3, 32, 32)
    for form, ref in refs.items():
        ds = load_cifar10(tmp_path / form, train=True)
        assert ds.classes == OFFICIAL_CLASSES, form
        x, y = next(BatchIterator(ds, len(ds), train=False).epoch(0))  # (20, 3, 32, 32), (20,)
        ref_x = torch.stack([ref[i][0] for i in range(len(ref))])
        ref_y = torch.tensor([ref[i][1] for i in range(len(ref))])
        # Each loaded image is one of the reader's, pixel for pixel (in whatever
        # order), normalised as torchvision does it, with the reader's label.
        match, diff = _nearest(x, ref_x)
        assert sorted(match.tolist()) == list(range(len(ref))), form
        torch.testing.assert_close(x, ref_x[match])  # one grey level is 1 / 255 / 0.26 = 0.015
        assert torch.equal(y, ref_y[match]), form
        # The same picture has the same class index either way (JPEG: nearest picture).
        match, diff = _nearest(x, pictures_x)
        assert sorted(match.tolist()) == list(range(len(labels))), form
        assert y.tolist() == [labels[p] for p in match.tolist()], form
        assert float(diff.max()) < 0.3, form  # PNG: 0; JPEG at quality 95: about 0.13


def _coded(h: int, w: int, start: int = 1) -> torch.Tensor:
    """(3, h, w) uint8 whose values all differ and are not 0 (the padding's black):
    start + (c * h + y) * w + x."""
    return (start + torch.arange(3 * h * w)).view(3, h, w).to(torch.uint8)


def test_random_crop_flip_is_a_hand_cut_window_of_the_padded_image():
    h, w, pad = 5, 6, 4  # not square, so rows and columns cannot be swapped unseen
    pics = torch.stack([_coded(h, w, 1), _coded(h, w, 101)])  # values 1..90 and 101..190
    # Every crop training may take: each (dy, dx) window of the zero-padded copy, or its mirror.
    crops = {}
    for k, pic in enumerate(pics):
        padded = F.pad(pic, (pad, pad, pad, pad))  # (3, 13, 14), black border
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                window = padded[:, dy:dy + h, dx:dx + w]
                crops[window.numpy().tobytes()] = (k, dy, dx, False)
                crops[window.flip(-1).numpy().tobytes()] = (k, dy, dx, True)
    assert len(crops) == 2 * 81 * 2  # all different: an output names the crop it is
    n = 3240  # 20 per (offset, mirror)
    batch = pics[torch.arange(n) % 2]  # (n, 3, 5, 6): the two pictures alternate
    out = random_crop_flip(batch, torch.Generator().manual_seed(0), pad=pad)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    seen = [crops.get(out[i].numpy().tobytes()) for i in range(n)]
    assert None not in seen, "an output is not a window of its padded picture or its mirror"
    assert all(s[0] == i % 2 for i, s in enumerate(seen))  # each image is cut from itself
    assert len({s[1:] for s in seen}) == 162  # every offset occurs, plain and mirrored
    # Uniform offsets and fair flips: within 4 standard deviations of the expected counts.
    mirrored = sum(s[3] for s in seen)
    assert abs(mirrored - n / 2) < 4 * (n / 4) ** 0.5
    for axis in (1, 2):
        counts = Counter(s[axis] for s in seen)
        assert all(abs(counts[v] - n / 9) < 4 * (n * 8 / 81) ** 0.5 for v in range(9)), counts
    # The same generator state gives the same crops (a resumed run repeats them).
    assert torch.equal(out, random_crop_flip(batch, torch.Generator().manual_seed(0), pad=pad))


def test_cifar_ten_crop_is_hand_cut_from_the_black_padded_image():
    from torchvision import transforms as T

    x = torch.stack([_coded(6, 6, 1), _coded(6, 6, 120)])  # (2, 3, 6, 6) uint8
    pad = 2  # cifar_ten_crop's default, which evaluate, predict and export use
    p = F.pad(x, (pad, pad, pad, pad))  # (2, 3, 10, 10), black border as in training
    m = p.flip(-1)  # the mirror image
    corners = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]  # top-left, top-right, bottom-left, bottom-right, centre
    expected = [im[..., t:t + 6, l:l + 6] for im in (p, m) for t, l in corners]
    crops = cifar_ten_crop(x)  # predict: uint8 pictures
    assert crops.shape == (2, 10, 3, 6, 6)
    for i, e in enumerate(expected):
        assert torch.equal(crops[:, i], e), i
    # evaluate and export: already-normalised batches, padded with the normalised black.
    norm = T.Normalize(PUBLISHED_MEAN, PUBLISHED_STD)
    black = normalised_black(CIFAR10_MEAN, CIFAR10_STD)
    torch.testing.assert_close(torch.tensor(black), norm(torch.zeros(3, 1, 1)).flatten())
    got = cifar_ten_crop(norm(x.float() / 255), fill=black)
    torch.testing.assert_close(got, torch.stack([norm(e.float() / 255) for e in expected], 1))
    # Any per-channel fill: each channel padded with its own value.
    xn = norm(x.float() / 255)
    fill = (1.5, -2.0, 7.0)
    pf = torch.stack([F.pad(xn[:, c], (pad, pad, pad, pad), value=fill[c]) for c in range(3)], 1)
    mf = pf.flip(-1)
    want = torch.stack([im[..., t:t + 6, l:l + 6] for im in (pf, mf) for t, l in corners], 1)
    torch.testing.assert_close(cifar_ten_crop(xn, fill=fill), want)


def _plain_train_transform():
    """The training transform with its colour noise off (zero eigenvalues) and no
    standardisation, so its output is the cropped pixels / 255."""
    return train_transform(torch.zeros(3), torch.eye(3), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def test_train_transform_takes_a_224_window_of_the_central_256_patch():
    # 256 rows x 320 columns: the shorter side is already 256, so the values keep
    # their meaning. R = row, G = column within the central 256 (columns 32..287),
    # B = 200 inside that patch and 0 in the 32-column strips either side.
    yy, xx = np.mgrid[0:256, 0:320]
    img = Image.fromarray(np.stack([yy, (xx - 32) % 256, np.where((xx >= 32) & (xx < 288), 200, 0)],
                                   -1).astype(np.uint8))
    tf = _plain_train_transform()
    torch.manual_seed(0)
    tops, lefts, mirrored = set(), set(), set()
    for _ in range(40):
        r, g, b = (tf(img) * 255).round().long()  # each (224, 224)
        top = int(r[0, 0])
        assert torch.equal(r, (top + torch.arange(224))[:, None].expand(224, 224))  # contiguous rows
        flipped = int(g[0, 0]) > int(g[0, 1])
        left = int(g[0, -1]) if flipped else int(g[0, 0])
        cols = left + torch.arange(224)
        assert torch.equal(g, (cols.flip(0) if flipped else cols)[None].expand(224, 224))  # columns, or mirrored
        assert bool((b == 200).all())  # never reaches outside the central patch
        assert 0 <= top <= 32 and 0 <= left <= 32
        tops.add(top), lefts.add(left), mirrored.add(flipped)
    assert mirrored == {False, True} and len(tops) > 10 and len(lefts) > 10


@pytest.mark.parametrize("h, w", [(150, 200), (300, 181)])
def test_train_transform_resizes_the_shorter_side_to_256(h, w):
    img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    # Reference: shorter side 256, the longer one scaled and truncated, by torch's
    # antialiased bilinear interpolation in float64; then the central 256x256 by slicing.
    size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)
    big = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].double(), size=size, mode="bilinear",
                        antialias=True, align_corners=False)[0].round().clamp(0, 255)
    t0, l0 = round((size[0] - 256) / 2), round((size[1] - 256) / 2)
    patch = big[:, t0:t0 + 256, l0:l0 + 256]  # (3, 256, 256)
    tf = _plain_train_transform()
    torch.manual_seed(1)
    for _ in range(3):
        out = (tf(Image.fromarray(img)) * 255).round().double()  # (3, 224, 224)
        found = []
        for flipped, src in ((False, patch), (True, patch.flip(-1))):
            for t in range(33):
                for left in range(33):  # first row as a quick filter, then the whole window
                    if (src[:, t, left:left + 224] - out[:, 0]).abs().max() <= 1 and \
                            (src[:, t:t + 224, left:left + 224] - out).abs().max() <= 1:
                        found.append((flipped, t, left))
        assert len(found) == 1, found  # exactly one window (one grey level of rounding allowed)
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
