"""fc7 nearest neighbours (AK Fig. 4 right) against a brute-force numpy search."""

import numpy as np
import pytest
import torch

from alexnet.data import TensorDataset, normalize
from alexnet.model import AlexNet
from analysis.neighbours import features, nearest, nearest_neighbours, reference_features
from tests.nets import make


@pytest.fixture(scope="module")
def model():
    return make()  # the narrow CIFAR-scale net


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (20,), generator=g), tuple("abcdefghij"))


def brute_force(q: np.ndarray, r: np.ndarray, k: int):
    d = np.sqrt(((q[:, None, :].astype(np.float64) - r[None].astype(np.float64)) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, 1)


@pytest.mark.parametrize("chunk", [16, 8192])
def test_nearest_equals_numpy_brute_force(chunk):
    g = torch.Generator().manual_seed(2)
    q, r = torch.randn(3, 7, generator=g), torch.randn(50, 7, generator=g)
    got = nearest(q, r, k=5, chunk=chunk)
    idx, dist = brute_force(q.numpy(), r.numpy(), 5)
    assert np.array_equal(got.indices.numpy(), idx)
    np.testing.assert_allclose(got.distances.numpy(), dist, rtol=1e-6)


def test_whole_pipeline_against_plain_forward_and_numpy(model, data):
    got = nearest_neighbours(model, data.images[[3, 7]], data, k=4)
    with torch.no_grad():  # the reference: the model's own forward, normalised by alexnet.data
        ref = model.forward_until(normalize(data.images), "act7").numpy()
    idx, dist = brute_force(ref[[3, 7]], ref, 4)
    assert np.array_equal(got.indices.numpy(), idx)
    assert got.indices[:, 0].tolist() == [3, 7]  # each image is its own nearest
    np.testing.assert_allclose(got.distances.numpy(), dist, rtol=1e-4, atol=1e-4)
    # A float query (already normalised) finds the same neighbours.
    again = nearest_neighbours(model, normalize(data.images[[3, 7]]), data, k=4)
    assert torch.equal(again.indices, got.indices)


def test_batches_and_progress(model, data):
    calls = []
    f = features(model, data, batch_size=7, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(7, 20), (14, 20), (20, 20)]
    torch.testing.assert_close(f, features(model, data, batch_size=20))
    assert f.shape == (20, 64)


def test_cache_hits_misses_and_repairs(model, data, tmp_path):
    calls = []

    def run(m=model, d=data):
        calls.clear()
        return reference_features(m, d, batch_size=7, cache_dir=tmp_path,
                                  progress=lambda *a: calls.append(a))

    first = run()
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and len(calls) == 3  # computed in three batches, then written
    stamp = files[0].stat().st_mtime_ns
    torch.testing.assert_close(torch.load(files[0], weights_only=True)["features"], first)
    second = run()
    assert len(calls) == 1 and torch.equal(first, second)  # read back, not recomputed
    assert files[0].stat().st_mtime_ns == stamp
    # Other weights or other images: another key, another file.
    other = AlexNet(model.config).eval()
    run(m=other)
    run(d=TensorDataset(data.images.flip(0), data.labels, data.classes))
    assert len(list(tmp_path.glob("*.pt"))) == 3
    # A damaged file is recomputed and replaced.
    files[0].write_bytes(b"not a checkpoint")
    torch.testing.assert_close(run(), first)
    assert len(calls) == 3 and torch.load(files[0], weights_only=True)["features"].shape == (20, 64)


def test_leaves_mode_alone(model, data):
    model.train()
    try:
        nearest_neighbours(model, data.images[:1], data, k=2)
        assert model.training
    finally:
        model.eval()
    nearest_neighbours(model, data.images[:1], data, k=2)
    assert not model.training


def test_bad_input_is_refused(model, data):
    empty = TensorDataset(data.images[:0], data.labels[:0], data.classes)
    with pytest.raises(ValueError, match="empty"):
        nearest_neighbours(model, data.images[:1], empty, k=1)
    with pytest.raises(ValueError, match="empty"):
        nearest(torch.randn(1, 64), torch.randn(0, 64), k=1)
    for k in (0, 21, 2.5):
        with pytest.raises(ValueError, match="k must be an integer from 1 to 20"):
            nearest_neighbours(model, data.images[:1], data, k=k)
    with pytest.raises(ValueError, match="same layer"):
        nearest(torch.randn(1, 5), torch.randn(4, 6), k=1)
    with pytest.raises(ValueError, match="batch_size"):
        features(model, data, batch_size=0)
