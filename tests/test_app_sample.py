"""A fresh machine: no dataset, empty caches. Every page still shows real results, read
from the embedded CIFAR-10 sample and the shipped page data (pretrained/page_data.pt).

If these fail after the shipped model was retrained, remake the page data:
``bash run.sh page-data``.
"""

import io
import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from alexnet.data import normalize
from alexnet.images import load_image
from alexnet.sample import load_sample
from alexnet.weights import CIFAR10_FILE, load_model
from analysis.layer_features import balanced_subset, layer_accuracy
from analysis.page_data import SHIPPED
from app import jobs

from tests.app_fixtures import computed, png_bytes, top5, vega_tables

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
pytestmark = pytest.mark.skipif(not CIFAR10_FILE.is_file(), reason="the shipped model is not here")
NO_DATA = ("No CIFAR-10", "extract the dataset", "cifar10-jpeg", "No training snapshots")


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    for k, v in {"ALEXNET_DATA_DIR": tmp_path / "no-cifar10", "ALEXNET_CACHE": tmp_path / "cache",
                 "TORCH_HOME": tmp_path / "torch"}.items():
        monkeypatch.setenv(k, str(v))
    for k in ("ALEXNET_CIFAR10_WEIGHTS", "ALEXNET_PRETRAINED_DIR"):
        monkeypatch.delenv(k, raising=False)
    jobs._server.clear()  # a new server: no page data computed yet
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    return at


def visit(at, path):
    """Open a page; it must answer in this one run (shipped data: no background work)."""
    at.switch_page(path).run()
    assert not at.exception, at.exception
    texts = [e.value for kind in ("info", "warning", "error", "caption") for e in at.get(kind)]
    assert not [t for t in texts if any(n in t for n in NO_DATA)], texts
    made = [j.label for j in jobs._server()[1].values() if j.computed]
    assert not made, f"page data were computed, not read: run `bash run.sh page-data` ({made})"
    assert any("embedded sample" in t for t in texts)  # says, in one line, what it reads
    return at


def caps(at):
    return [c for i in at.image for c in i.captions]


def test_the_shipped_page_data_is_there_and_small():
    assert SHIPPED.is_file() and SHIPPED.stat().st_size < 6e6


def test_every_page_shows_results_without_the_dataset(fresh):
    at = fresh
    at.radio(key="predict_source").set_value("Sample").run()
    options = at.selectbox(key="predict_sample").options
    assert len(options) == 10
    at.selectbox(key="predict_sample").set_value(options[3]).run()
    assert not at.exception and len(top5(at)[1]) == 5

    loaded = load_model("cifar10")
    picture = loaded.preprocess(load_image(at.session_state.image_bytes))

    # Neighbours: against brute force over the sample's training images (torch.cdist)
    visit(at, "app/pages/neighbours.py")
    found = caps(at)[1:]
    assert len(found) == 6
    train = load_sample(train=True)
    with torch.no_grad():
        ref = loaded.model.forward_until(normalize(train.images, loaded.mean, loaded.std), "act7")
        q = loaded.model.forward_until(picture, "act7")
    d, i = torch.cdist(q, ref)[0].topk(6, largest=False)
    got = [re.fullmatch(r"(\w+), distance ([\d.]+) \(#(\d+)\)", c).groups() for c in found]
    assert [int(g[2]) for g in got] == i.tolist()
    assert [g[0] for g in got] == [train.classes[int(train.labels[j])] for j in i]
    assert [float(g[1]) for g in got] == pytest.approx(d.tolist(), abs=0.06)  # float16 references

    # Deconvnet: it opens on the act5 map firing hardest on the picture; that map's top 9
    # against brute force over the sample's test images
    visit(at, "app/pages/deconvnet.py")
    assert len(at.image) == 18
    test = load_sample(train=False)
    with torch.no_grad():
        hardest = int(loaded.model.forward_until(picture, "act5").amax((2, 3))[0].argmax())
        a = loaded.model.forward_until(normalize(test.images, loaded.mean, loaded.std), "act5")
    assert at.number_input(key="deconv_channel_act5").value == hardest
    best = a[:, hardest].flatten(1).amax(1).topk(9)
    shown = [c for c in caps(at) if c.startswith("#")]
    assert shown == [f"#{int(j)}: {float(v):.2f}" for j, v in zip(best.indices, best.values)]
    assert any("firing hardest on your picture" in m.value for m in at.markdown)

    visit(at, "app/pages/evolution.py")
    epochs = len(list((CIFAR10_FILE.parent / "snapshots").glob("epoch*.pt")))
    assert len(caps(at)) == 3 * epochs  # three maps at each shipped epoch

    visit(at, "app/pages/experiments.py")
    assert not at.button(key="exp_relu-tanh_start").proto.disabled

    # Layer features: the default table is there without pressing Run, as the probe gives it
    visit(at, "app/pages/layer_features.py")
    points = vega_tables(at)[0]
    ours = points[~points["series"].str.startswith("ZF Table 7")]
    pick = balanced_subset(test.labels, 100)
    want = layer_accuracy(loaded.model, normalize(test.images[pick], loaded.mean, loaded.std),
                          test.labels[pick], per_class=30, splits=3)
    assert ours["layer"].tolist() == [r.layer for r in want]
    assert ours["accuracy"].tolist() == pytest.approx([100 * float(r.accuracy.mean()) for r in want], abs=0.5)


def test_pages_answer_quickly_from_the_shipped_data(fresh):
    """Seconds per page on a loaded two-core machine (the browser's figures: bench_pages.py)."""
    fresh.file_uploader[0].set_value(("p.png", png_bytes(seed=11), "image/png")).run()
    for path in ("neighbours", "deconvnet", "evolution"):
        t = time.perf_counter()
        visit(fresh, f"app/pages/{path}.py")
        assert time.perf_counter() - t < 30, path  # generous: CI is shared; computing took minutes


def test_the_download_buttons_offline_say_what_to_copy_where(fresh, tmp_path):
    """This machine has no internet: each button's download fails for real, in one line."""
    import socket

    try:
        socket.getaddrinfo("download.pytorch.org", 443)
        pytest.skip("online: the test must not download 233 MB")
    except OSError:
        pass
    at = fresh
    for key, copy in (("download_download-imagenet", "alexnet-owt-7be5be79.pth"),
                      ("download_download-cifar10", "cifar-10-python.tar.gz")):
        at.sidebar.button(key=key).click().run()
        job = jobs.running(key.removeprefix("download_"))  # AppTest runs the app in this process
        assert job.done.wait(300), "the download neither failed nor finished"
        at.run()
        (message,) = [e.value for e in at.sidebar.error if copy in e.value]
        assert message.startswith("could not download https://") and "\n" not in message
        assert f"copy it to {tmp_path}" in message
        assert not at.exception
        at.run()  # the error stays until the next try, and the button is back
        assert at.sidebar.button(key=key)


def test_the_app_reads_torchvisions_download_layout(tmp_path, monkeypatch):
    """What `bash run.sh download cifar10` leaves (cifar-10-batches-py) is the full set to the app."""
    import torchvision.datasets.cifar as tv_cifar

    rng = np.random.default_rng(3)
    labels = [c for c in range(10) for _ in range(3)]
    pictures = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    d = tmp_path / "cifar10" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rows = pictures.transpose(0, 3, 1, 2).reshape(len(labels), -1)  # R, G, B planes per row
    for i in range(1, 6):
        (d / f"data_batch_{i}").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
    (d / "test_batch").write_bytes(pickle.dumps({"data": rows, "labels": labels}))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": list(load_sample().classes)}))
    # our hand-written batches are not the official bytes: skip only torchvision's md5 check
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    for k, v in {"ALEXNET_DATA_DIR": tmp_path / "cifar10", "ALEXNET_CACHE": tmp_path / "cache",
                 "TORCH_HOME": tmp_path / "torch"}.items():
        monkeypatch.setenv(k, str(v))
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.radio(key="predict_source").set_value("Sample").run()
    options = at.selectbox(key="predict_sample").options
    assert options[:2] == ["airplane (test #0)", "automobile (test #3)"]
    at.selectbox(key="predict_sample").set_value(options[1]).run()
    shown = np.asarray(Image.open(io.BytesIO(at.session_state.image_bytes)).convert("RGB"))
    assert (shown == pictures[3]).all()  # the archive's own pixels
    at.switch_page("app/pages/deconvnet.py").run()
    computed(at)
    texts = [c.value for c in at.caption]
    assert not any("embedded sample" in t for t in texts)
    assert len(at.image) == 18 and not at.exception


def test_the_warm_up_fills_the_caches_the_pages_read(tmp_path, monkeypatch):
    """``app.serve.warm`` (run beside the server) loads the model and the shipped pictures once;
    the Feature visualisation page then shows act5 unit 0 from them, loading nothing again."""
    import streamlit as st

    from analysis import page_data
    from app import resources, serve

    for k, v in {"ALEXNET_DATA_DIR": tmp_path / "no-cifar10", "ALEXNET_CACHE": tmp_path / "cache",
                 "TORCH_HOME": tmp_path / "torch"}.items():
        monkeypatch.setenv(k, str(v))
    for k in ("ALEXNET_CIFAR10_WEIGHTS", "ALEXNET_PRETRAINED_DIR"):
        monkeypatch.delenv(k, raising=False)
    loads = []
    real_model, real_featvis = resources.weights.load_model, page_data.load_featvis
    monkeypatch.setattr(resources.weights, "load_model", lambda name: loads.append(name) or real_model(name))
    monkeypatch.setattr(resources, "load_featvis", lambda: loads.append("featvis") or real_featvis())
    st.cache_resource.clear()
    serve.warm()
    assert loads == ["cifar10", "featvis"]

    at = AppTest.from_file(APP, default_timeout=600).run()
    at.switch_page("app/pages/featvis.py").run()
    at.button(key="fv_go").click().run()
    assert not at.exception and loads == ["cifar10", "featvis"]  # nothing loaded twice
    assert any("pictures shipped with the model" in c.value for c in at.caption)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("featvis-*.pt"))
    # the shipped picture is the shipped model's: its activation is what the caption says
    (cap,) = caps(at)
    loaded = load_model("cifar10")
    shown = at.session_state.fv_result[1].images  # float16 as shipped, back to float32
    m, s = torch.tensor(loaded.mean).view(1, 3, 1, 1), torch.tensor(loaded.std).view(1, 3, 1, 1)
    with torch.no_grad():
        a = loaded.model.forward_until((shown - m) / s, "act5")[0, 0, 4, 4]
    value = float(re.fullmatch(r"act5 unit 0: ([-\d.]+)", cap).group(1))
    assert value == pytest.approx(float(a), abs=0.02)  # the centre of 8x8; float16 pixels
