"""Deconvnet views shared by the Deconvnet and Feature maps pages: a map's top 9 over the
CIFAR-10 test set or the user's picture folder, and its projection for the session's
picture (ZF 2.1, Fig. 2)."""

from __future__ import annotations

import streamlit as st

from analysis import page_data
from analysis.activations import channel_summary, feature_maps
from analysis.deconv import project
from analysis.collection_scan import top9_from_table
from analysis.top9 import LayerScan, top9

from . import charts, collection, jobs, resources


def _table(loaded, layer: str, n: int):
    """(the key, the nine strongest test images of every map of ``layer``) read from the shipped
    page data or the disk cache, else computed once per server in the background while the
    page waits (None after an error)."""
    data = resources.cifar_test()[0]
    name = page_data.key("top9", resources.model_sha(loaded), resources.data_sha(False),
                         n=n, layer=layer)
    images, _ = page_data.spread(data, n)
    return name, jobs.page_data(name, lambda progress: page_data.compute_top9(
        loaded.model, images, layer, loaded.mean, loaded.std, progress),
        f"Scanning {n:,} test images for {layer}")


@st.cache_data(show_spinner=False, max_entries=64)
def strongest(model_name: str, layer: str, channel: int, n: int, _table, key: str):
    """(test image index, value, patch, projection) for the map's top 9 among ``n`` test images
    (``_table``: the page data stored under ``key``)."""
    loaded = resources.model(model_name)[0]
    images, step = page_data.spread(resources.cifar_test()[0], n)
    best = top9(loaded.model, layer, channel, images, scan=LayerScan.from_table(_table),
                mean=loaded.mean, std=loaded.std)
    return [(a.image_index * step, a.value, charts.hwc(a.patch), charts.as_picture(a.projection))
            for a in best]


@st.cache_data(show_spinner=False, max_entries=64)
def _strongest_maps(model_name: str, image_bytes: bytes, layer: str, k: int = 8):
    """The ``k`` maps of ``layer`` firing hardest on the picture: (channel, max activation)."""
    m = resources.model(model_name)[0]
    s = channel_summary(feature_maps(m.model, m.preprocess(resources.decode(image_bytes)[0]), layer))
    return [(int(c), float(s.max[0, c])) for c in s.strongest(k)[0]]


def _kept(channel_key: str) -> str:
    return f"{channel_key}_kept"  # outlives the input: Streamlit forgets widgets not drawn


def open_on_strongest(loaded, layer: str, channel_key: str) -> None:
    """Sets the *Feature map* input's session state, ``channel_key``, before the input is
    drawn: back on a layer, the map chosen there by hand; on a layer not chosen on yet, with
    a picture, the map firing hardest on it."""
    if channel_key in st.session_state:
        return
    picture = st.session_state.get("image_bytes")
    if _kept(channel_key) in st.session_state:
        st.session_state[channel_key] = st.session_state[_kept(channel_key)]
    elif picture:
        st.session_state[channel_key] = _strongest_maps(loaded.name, picture, layer)[0][0]


def choose_map(channel_key: str, channel: int | None = None) -> None:
    """The user's choice of map (``channel``, or what the input now holds): shown, and kept
    for when they come back to the layer. The *Feature map* input's on_change."""
    if channel is not None:
        st.session_state[channel_key] = channel
    st.session_state[_kept(channel_key)] = st.session_state[channel_key]


def strongest_maps_line(loaded, layer: str, channel_key: str) -> None:
    """The maps of ``layer`` that fire hardest on the session's picture, each a button that
    shows it (sets the page's *Feature map* input, whose session-state key is ``channel_key``)."""
    maps = _strongest_maps(loaded.name, st.session_state.image_bytes, layer)
    st.markdown(f"Maps of **{layer}** firing hardest on your picture (maximum activation); "
                "press one to see its top 9 and projection:")
    for column, (c, v) in zip(st.columns(len(maps)), maps):
        column.button(f"{c} ({v:.2f})", key=f"{channel_key}_pick_{c}", width="stretch",
                      on_click=choose_map, args=(channel_key, c))


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
    where, found = collection.source(loaded, key)
    if where == "folder":
        return _folder_top9(loaded, found, layer, channel)
    if where is None:
        return
    data, note = resources.cifar_test()
    if data is None:  # the full set is here but cannot be used
        st.info(note)
        return
    if note:
        st.caption(note)  # the embedded sample, and how to get the full set
    sizes = sorted({min(n, len(data)) for n in (*page_data.TOP9_IMAGES, len(data))})
    n = st.select_slider("Images searched", sizes, value=sizes[0], key=f"{key}_n") \
        if len(sizes) > 1 else sizes[0]
    name, table = _table(loaded, layer, n)
    if table is None:
        return  # the scan failed, and the page says so
    best = strongest(loaded.name, layer, int(channel), n, table, name)
    _pairs([(f"#{index}: {value:.2f}", patch, proj) for index, value, patch, proj in best])
    st.caption(f"Each pair: the image patch under the unit's receptive field, and the deconv "
               f"projection of its activation, among {n:,} test images. Projections are scaled "
               "to their own range.")


def _pairs(best) -> None:
    """Rows of (patch, projection) pairs, five a row; ``best``: (caption, patch, projection)."""
    for row in (best[:5], best[5:]):
        if not row:
            continue
        cols = st.columns(10)
        for j, (caption, patch, proj) in enumerate(row):
            cols[2 * j].image(patch, caption=caption, width="stretch")
            cols[2 * j + 1].image(proj, caption="projection", width="stretch")


@st.cache_data(show_spinner=False, max_entries=64)
def _folder_strongest(model_name: str, name: str, layer: str, channel: int, _scan, _found):
    """(caption, patch, projection) for the map's top 9 among the folder's pictures
    (``_scan``: the scan kept under ``name``)."""
    loaded = resources.model(model_name)[0]
    table = _scan["top9"][layer]
    readable = _scan["index"]
    files = tuple(int(readable[i]) for i in table["index"][channel].tolist())
    images = collection.pictures(_found.digest, files, loaded.preprocessing, _found)
    best = top9_from_table(loaded.model, table, channel, images, loaded.mean, loaded.std)
    return [(f"{_found.label(files[a.image_index])}: {a.value:.2f}", charts.hwc(a.patch),
             charts.as_picture(a.projection)) for a in best]


def _folder_top9(loaded, found, layer: str, channel: int) -> None:
    scan = collection.scan(loaded, found)
    if scan is None:
        return  # the scan failed, and the page says so
    _pairs(_folder_strongest(loaded.name, collection.scan_name(loaded, found), layer, int(channel), scan, found))
    st.caption(f"Each pair: the picture's patch under the unit's receptive field, and the deconv "
               f"projection of its activation, among the {len(scan['index']):,} pictures in "
               f"`{found.root}`. Projections are scaled to their own range.")


def projection_section(loaded, layer: str, channel: int, key: str) -> None:
    """The picture as the net sees it beside the projection of the map's strongest activation."""
    shown, proj, value, pos = own_projection(loaded.name, st.session_state.image_bytes, layer,
                                             int(channel))
    a, b = st.columns(2)
    a.plotly_chart(charts.picture(shown, "what the net sees"), width="stretch", key=f"{key}_input")
    b.plotly_chart(charts.picture(proj, f"{layer} map {channel}: strongest activation {value:.2f} "
                                  f"at {pos}"), width="stretch", key=f"{key}_proj")
