"""Neighbours: the training images nearest to a picture in fc7 space (AK 6.1, Fig. 4 right)."""

import threading

import streamlit as st

from alexnet.data import cache_dir
from analysis.neighbours import nearest_neighbours, reference_features
from app import charts, inputs, resources

SIZES = (5000, 50_000)  # reference images: a quick class demo, or the whole training set

st.title("Neighbours")
st.markdown("AK Fig. 4 (right): the training images whose last hidden layer (fc7, 4096 numbers "
            "after its ReLU) is nearest to the picture's by Euclidean distance. They tend to share "
            "the class, though not the pixels: the net's features group what looks alike to it.")
loaded = inputs.require_model()
if loaded.dataset != "cifar10":  # the weights read CIFAR-10 images
    st.info("The neighbours are searched in the CIFAR-10 training set, which only the CIFAR-10 "
            "model reads: choose it in the sidebar.")
    st.stop()
data = inputs.require_cifar(resources.cifar_train)


@st.cache_resource(show_spinner=False)
def _store():
    """Reference features shared by every session of this server: (model, n) -> (N, 4096)."""
    return {}, threading.Lock()


def reference(model_name: str, n: int, step: int):
    """fc7 of every ``step``-th training image (``n`` of them), computed once per server.

    Not a plain cache_resource function: the pass takes minutes the first time and
    reports progress to a bar on this page, which a cached function may not draw on.
    Features also go to disk (``reference_features``' cache), so a restart is quick.
    """
    store, lock = _store()
    key = (model_name, n)
    if key not in store:
        with lock:  # two sessions asking at once compute it once
            if key not in store:
                bar = st.progress(0.0, text=f"fc7 features of {n:,} training images…")
                store[key] = reference_features(
                    resources.model(model_name)[0].model, data.images[::step][:n], loaded.mean,
                    loaded.std, cache_dir=cache_dir() / "neighbours",
                    progress=lambda done, total: bar.progress(done / total, text=f"fc7 features: "
                                                              f"{done:,} of {total:,} training images"))
                bar.empty()
    return store[key]


@st.cache_data(show_spinner=False, max_entries=64)
def neighbours(model_name: str, image_bytes: bytes, n: int, step: int, k: int, _reference):
    """The ``k`` nearest of ``_reference`` (the features of (model_name, n, step)) to the picture."""
    m = resources.model(model_name)[0]
    x = m.preprocess(resources.decode(image_bytes)[0])  # (1, 3, 32, 32)
    found = nearest_neighbours(m.model, x, _reference, k=k)
    index = (found.indices[0] * step).tolist()  # back to the training set's numbering
    return charts.as_picture(x[0]), index, found.distances[0].tolist()


left, right = st.columns(2)
sizes = sorted({min(s, len(data)) for s in SIZES})
n = left.radio("Reference images", sizes, format_func=lambda s: f"{s:,}", horizontal=True,
               key="nb_n", help="Every (50,000 / n)-th training image, so every class is there. "
                                "The first pass over them takes a while; later ones are instant.")
k = right.slider("Neighbours", 1, 12, 6, key="nb_k")
step = len(data) // n  # the training folder is sorted by class: a stride keeps the classes mixed
image = inputs.require_image("neighbours")
features = reference(loaded.name, n, step)  # (n, 4096)
shown, index, dist = neighbours(loaded.name, st.session_state.image_bytes, n, step, k, features)

cols = st.columns(k + 1)
cols[0].image(shown, caption="your picture (what the net sees)", width="stretch")
for col, i, d in zip(cols[1:], index, dist):
    col.image(charts.hwc(data.images[i]), caption=f"{data.classes[int(data.labels[i])]}, "
              f"distance {d:.1f} (#{i})", width="stretch")
st.caption(f"Nearest first, among {n:,} CIFAR-10 training images; model: {loaded.name}.")
