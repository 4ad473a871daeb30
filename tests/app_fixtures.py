"""Shared by the app tests: the CIFAR-10 model the app should load, and test pictures."""

import html
import io
import re

import numpy as np
import torch
from PIL import Image

from alexnet.checkpoint import save_atomic
from alexnet.data import CIFAR10_CLASSES
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import CIFAR10_FILE, CIFAR10_OVERRIDE_ENV
from app.charts import EARLY_CHART


def cifar_env(tmp_dir) -> dict:
    """Environment for the app: the shipped model when it exists, else a random one.

    The random model is saved in ``alexnet.train``'s checkpoint format and
    handed to the app through ``ALEXNET_CIFAR10_WEIGHTS``; it exercises the
    whole path (registry, cache, prediction, charts) but its guesses mean nothing.
    """
    env = {"TORCH_HOME": str(tmp_dir / "torch-home"),  # no ImageNet weights: the app must say so
           "ALEXNET_DATA_DIR": str(tiny_cifar(tmp_dir / "cifar10")),
           "ALEXNET_CACHE": str(tmp_dir / "cache")}
    if CIFAR10_FILE.is_file():
        return env
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming")).eval()
    path = tmp_dir / "cifar10-random.pt"
    save_atomic({"model": model.state_dict(), "model_config": model.config.to_dict(),
                 "classes": list(CIFAR10_CLASSES), "epoch": 0}, path)
    return {**env, CIFAR10_OVERRIDE_ENV: str(path)}


def tiny_cifar(root, per_class: int = 3):
    """A CIFAR-10-shaped folder ({test,train}/<class>/N.png, 32x32) of random pictures."""
    for offset, split in enumerate(("test", "train")):
        for c, name in enumerate(CIFAR10_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                (folder / f"{i}.png").write_bytes(png_bytes(32, 32, seed=100 * c + i + 50 * offset))
    return root


def png_bytes(w=48, h=40, seed=0, fmt="PNG") -> bytes:
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt)
    return buf.getvalue()


def computed(at):
    """``at`` after a run that needed page data computed in the background (app.jobs): the
    page waits for them in its run and shows no error."""
    assert not at.exception, at.exception
    assert not [e.value for e in at.error if "failed:" in e.value], [e.value for e in at.error]
    return at


def top5(at):
    """(title, classes, probabilities) of the Predict page's top 5 (``app.charts.top5``'s HTML,
    read back from each row's tooltip), or None when the page shows none."""
    for h in at.get("html"):
        body = h.proto.body
        if 'class="top5"' in body:
            title = html.unescape(re.search(r"<p[^>]*>(.*?)</p>", body).group(1))
            rows = re.findall(r'class="top5-row" title="([^"]*): ([-+.0-9e]+)"', body)
            return title, [html.unescape(c) for c, _ in rows], [float(v) for _, v in rows]
    return None


def plotly_charts(at) -> list:
    """The page's plotly charts, without the hidden one that only loads plotly early
    (app.charts.load_plotly_early)."""
    return [c for c in at.get("plotly_chart") if c.key != EARLY_CHART]


def vega_tables(at) -> list:
    """The data of the page's (or of one) Streamlit (Vega-Lite) charts, one DataFrame each, long form:
    the x column, "color -- streamlit-generated" (the series) and "value -- streamlit-generated"."""
    import pyarrow as pa

    charts = [at] if hasattr(at, "proto") else at.get("vega_lite_chart")  # one chart, or a page's
    return [pa.ipc.open_stream(d.data.data).read_pandas() for c in charts for d in c.proto.datasets]
