"""Deconvnet views shared by the Deconvnet and Feature maps pages: a map's top 9 over the
CIFAR-10 test set and its projection for the session's picture (ZF 2.1, Fig. 2)."""

from __future__ import annotations

import streamlit as st

from alexnet.data import cache_dir
from analysis.deconv import project
from analysis.top9 import scan_layer, top9

from . import charts, resources


def _step(n: int) -> int:
    return max(1, len(resources.cifar_test()[0]) // n)


def _spread(n: int):
    """``n`` test images spread over the set (it is sorted by class): every step(n)-th."""
    return resources.cifar_test()[0].images[:: _step(n)][:n]


@st.cache_resource(show_spinner=False, max_entries=8)
def _scan(model_name: str, layer: str, n: int):
    loaded = resources.model(model_name)[0]
    return scan_layer(loaded.model, layer, _spread(n), mean=loaded.mean, std=loaded.std,
                      cache_dir=cache_dir() / "top9")


@st.cache_data(show_spinner=False, max_entries=64)
def strongest(model_name: str, layer: str, channel: int, n: int):
    """(test image index, value, patch, projection) for the map's top 9 among ``n`` test images."""
    loaded = resources.model(model_name)[0]
    best = top9(loaded.model, layer, channel, _spread(n), scan=_scan(model_name, layer, n),
                mean=loaded.mean, std=loaded.std)
    return [(a.image_index * _step(n), a.value, charts.hwc(a.patch), charts.as_picture(a.projection))
            for a in best]


@st.cache_data(show_spinner=False, max_entries=64)
def own_projection(model_name: str, image_bytes: bytes, layer: str, channel: int):
    """(what the net sees, the projection, the activation, its (y, x)) for the picture."""
    image = resources.decode(image_bytes)[0]
    loaded = resources.model(model_name)[0]
    x = loaded.preprocess(image)  # (1, 3, S, S)
    p = project(loaded.model, x, layer, channel)
    shown = charts.as_picture(x[0])
    return shown, charts.as_picture(p.pixels[0]), float(p.value[0]), tuple(p.position[0].tolist())


def top9_section(loaded, layer: str, channel: int, key: str) -> None:
    """The map's top 9 with projections, or a note on why they cannot be shown."""
    data, note = resources.cifar_test()
    if loaded.dataset != "cifar10":  # the weights read CIFAR-10 images
        st.info("The top 9 are searched in the CIFAR-10 test set, which only the CIFAR-10 model reads.")
        return
    if data is None:
        st.info(note)
        return
    sizes = sorted({min(n, len(data)) for n in (1000, 2000, 5000, len(data))})
    n = st.select_slider("Images searched", sizes, value=sizes[0], key=f"{key}_n")
    with st.status(f"Scanning {n} images for {layer}…", expanded=False) as status:
        best = strongest(loaded.name, layer, int(channel), n)
        status.update(label=f"Scanned {n} images for {layer}", state="complete")
    for row in (best[:5], best[5:]):
        cols = st.columns(10)
        for j, (index, value, patch, proj) in enumerate(row):
            cols[2 * j].image(patch, caption=f"#{index}: {value:.2f}", width="stretch")
            cols[2 * j + 1].image(proj, caption="projection", width="stretch")
    st.caption("Each pair: the image patch under the unit's receptive field, and the deconv "
               "projection of its activation. Projections are scaled to their own range.")


def projection_section(loaded, layer: str, channel: int, key: str) -> None:
    """The picture as the net sees it beside the projection of the map's strongest activation."""
    shown, proj, value, pos = own_projection(loaded.name, st.session_state.image_bytes, layer,
                                             int(channel))
    a, b = st.columns(2)
    a.plotly_chart(charts.picture(shown, "what the net sees"), width="stretch", key=f"{key}_input")
    b.plotly_chart(charts.picture(proj, f"{layer} map {channel}: strongest activation {value:.2f} "
                                  f"at {pos}"), width="stretch", key=f"{key}_proj")
