"""Deconvnet: what a feature map responds to, projected back to pixels (ZF 2.1, Fig. 2)."""

import streamlit as st

from analysis import page_data
from analysis._layers import feature_layers, num_channels
from analysis.activations import channel_summary, feature_maps
from analysis.deconv import project
from analysis.top9 import LayerScan, top9
from app import charts, inputs, jobs, resources

LAYERS = ("act1", "act2", "act3", "act4", "act5")  # ZF project rectified maps of layers 1-5

st.title("Deconvnet")
st.markdown("Pick a layer and one of its feature maps. The deconvnet keeps that map's strongest "
            "activation, zeroes the rest, and runs the net backwards to pixels: unpool with "
            "the max-pool switches, rectify, filter with the transposed kernels (ZF 2.1).")
loaded = inputs.require_model()
model = loaded.model
layers = [n for n in LAYERS if n in feature_layers(model)]
left, right = st.columns(2)
layer = left.selectbox("Layer", layers, index=len(layers) - 1, key="deconv_layer")
channels = num_channels(model, layer)
channel = right.number_input(f"Feature map (0 to {channels - 1})", 0, channels - 1, 0,
                             key=f"deconv_channel_{layer}")


def top_table(loaded, layer: str, n: int):
    """The nine strongest test images of every map of ``layer``: shipped, cached, or computed
    once per server in the background (None while it runs)."""
    data = resources.cifar_test()[0]
    name = page_data.key("top9", resources.model_sha(loaded), resources.data_sha(False),
                         n=n, layer=layer)
    images, _ = page_data.spread(data, n)
    return jobs.page_data(name, lambda progress: page_data.compute_top9(
        loaded.model, images, layer, loaded.mean, loaded.std, progress),
        f"Scanning {n:,} test images for {layer}")


@st.cache_data(show_spinner=False, max_entries=64)
def strongest(model_name: str, layer: str, channel: int, n: int, _table, key: str):
    """Patches and projections of the nine (``_table`` is the data behind ``key``)."""
    data = resources.cifar_test()[0]
    images, step = page_data.spread(data, n)
    best = top9(resources.model(model_name)[0].model, layer, channel, images,
                scan=LayerScan.from_table(_table), mean=loaded.mean, std=loaded.std)
    return [(a.image_index * step, a.value, charts.hwc(a.patch), charts.as_picture(a.projection))
            for a in best]


@st.cache_data(show_spinner=False, max_entries=64)
def strongest_maps(model_name: str, image_bytes: bytes, layer: str, k: int = 8):
    """The ``k`` maps of ``layer`` firing hardest on the picture: (channel, max activation)."""
    m = resources.model(model_name)[0]
    s = channel_summary(feature_maps(m.model, m.preprocess(resources.decode(image_bytes)[0]), layer))
    return [(int(c), float(s.max[0, c])) for c in s.strongest(k)[0]]


@st.cache_data(show_spinner=False, max_entries=64)
def own_projection(model_name: str, image_bytes: bytes, layer: str, channel: int):
    image = resources.decode(image_bytes)[0]
    x = resources.model(model_name)[0].preprocess(image)  # (1, 3, S, S)
    p = project(resources.model(model_name)[0].model, x, layer, channel)
    shown = charts.as_picture(x[0])
    return shown, charts.as_picture(p.pixels[0]), float(p.value[0]), tuple(p.position[0].tolist())


st.subheader("Top 9 over the CIFAR-10 test set (ZF Fig. 2)")
if loaded.input_size != 32:
    st.info("The top 9 are searched in the CIFAR-10 test set, which only the CIFAR-10 model reads.")
else:
    data, note = resources.cifar_test()
    if note:
        st.caption(note)
    sizes = sorted({min(n, len(data)) for n in (*page_data.TOP9_IMAGES, len(data))})
    n = st.select_slider("Images searched", sizes, value=sizes[0], key="deconv_n") \
        if len(sizes) > 1 else sizes[0]
    table = top_table(loaded, layer, n)
    if table is not None:
        best = strongest(loaded.name, layer, int(channel), n, table,
                         page_data.key("top9", resources.model_sha(loaded),
                                       resources.data_sha(False), n=n, layer=layer))
        for row in (best[:5], best[5:]):
            cols = st.columns(10)
            for j, (index, value, patch, proj) in enumerate(row):
                cols[2 * j].image(patch, caption=f"#{index}: {value:.2f}", width="stretch")
                cols[2 * j + 1].image(proj, caption="projection", width="stretch")
        st.caption(f"Each pair: the image patch under the unit's receptive field, and the deconv "
                   f"projection of its activation, among {n:,} test images. Projections are "
                   "scaled to their own range.")

st.subheader("Your picture")
image = inputs.require_image("deconv")
maps = strongest_maps(loaded.name, st.session_state.image_bytes, layer)
st.markdown(f"Maps of **{layer}** firing hardest on your picture (maximum activation): "
            + ", ".join(f"**{c}** ({v:.2f})" for c, v in maps)
            + ". Type one into *Feature map* above to see its top 9 and projection.")
shown, proj, value, pos = own_projection(loaded.name, st.session_state.image_bytes, layer,
                                         int(channel))
a, b = st.columns(2)
a.plotly_chart(charts.picture(shown, "what the net sees"), width="stretch", key="deconv_input")
b.plotly_chart(charts.picture(proj, f"{layer} map {channel}: strongest activation {value:.2f} "
                              f"at {pos}"), width="stretch", key="deconv_proj")
