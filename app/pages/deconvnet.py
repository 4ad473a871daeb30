"""Deconvnet: what a feature map responds to, projected back to pixels (ZF 2.1, Fig. 2)."""

import streamlit as st

from alexnet.data import cache_dir
from alexnet.stages import num_channels, rectified_maps
from analysis.deconv import project
from analysis.top9 import scan_layer, top9
from app import charts, inputs, resources


st.title("Deconvnet")
st.markdown("Pick a layer and one of its feature maps. The deconvnet keeps that map's strongest "
            "activation, zeroes the rest, and runs the net backwards to pixels: unpool with "
            "the max-pool switches, rectify, filter with the transposed kernels (ZF 2.1).")
loaded = inputs.require_model()
model = loaded.model
layers = list(rectified_maps(model))  # ZF project the rectified maps of layers 1-5
left, right = st.columns(2)
layer = left.selectbox("Layer", layers, index=len(layers) - 1, key="deconv_layer")
channels = num_channels(model, layer)
channel = right.number_input(f"Feature map (0 to {channels - 1})", 0, channels - 1, 0,
                             key=f"deconv_channel_{layer}")


def step(n: int) -> int:
    return max(1, len(resources.cifar_test()[0]) // n)


def spread(n: int):
    """``n`` test images spread over the set (it is sorted by class): every step(n)-th."""
    return resources.cifar_test()[0].images[:: step(n)][:n]


@st.cache_resource(show_spinner=False, max_entries=8)
def scan(model_name: str, layer: str, n: int):
    return scan_layer(resources.model(model_name)[0].model, layer, spread(n),
                      mean=loaded.mean, std=loaded.std, cache_dir=cache_dir() / "top9")


@st.cache_data(show_spinner=False, max_entries=64)
def strongest(model_name: str, layer: str, channel: int, n: int):
    s = scan(model_name, layer, n)
    best = top9(resources.model(model_name)[0].model, layer, channel, spread(n), scan=s,
                mean=loaded.mean, std=loaded.std)
    return [(a.image_index * step(n), a.value, charts.hwc(a.patch), charts.as_picture(a.projection))
            for a in best]


@st.cache_data(show_spinner=False, max_entries=64)
def own_projection(model_name: str, image_bytes: bytes, layer: str, channel: int):
    image = resources.decode(image_bytes)[0]
    x = resources.model(model_name)[0].preprocess(image)  # (1, 3, S, S)
    p = project(resources.model(model_name)[0].model, x, layer, channel)
    shown = charts.as_picture(x[0])
    return shown, charts.as_picture(p.pixels[0]), float(p.value[0]), tuple(p.position[0].tolist())


st.subheader("Top 9 over the CIFAR-10 test set (ZF Fig. 2)")
data, note = resources.cifar_test()
if loaded.dataset != "cifar10":  # the weights read CIFAR-10 images
    st.info("The top 9 are searched in the CIFAR-10 test set, which only the CIFAR-10 model reads.")
elif data is None:
    st.info(note)
else:
    sizes = sorted({min(n, len(data)) for n in (1000, 2000, 5000, len(data))})
    n = st.select_slider("Images searched", sizes, value=sizes[0], key="deconv_n")
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

st.subheader("Your picture")
image = inputs.require_image("deconv")
shown, proj, value, pos = own_projection(loaded.name, st.session_state.image_bytes, layer,
                                         int(channel))
a, b = st.columns(2)
a.plotly_chart(charts.picture(shown, "what the net sees"), width="stretch", key="deconv_input")
b.plotly_chart(charts.picture(proj, f"{layer} map {channel}: strongest activation {value:.2f} "
                              f"at {pos}"), width="stretch", key="deconv_proj")
