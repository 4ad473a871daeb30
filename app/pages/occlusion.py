"""Occlusion: slide a grey square over the picture and watch the net (ZF 4.2, Fig. 7)."""

import numpy as np
import streamlit as st

from analysis.occlusion import DEFAULT_SIZE, DEFAULT_STRIDE, centres, occlusion
from app import charts, inputs, resources

st.title("Occlusion")
st.markdown("A grey square (the dataset's mean colour) covers part of the picture at every "
            "position in turn. Three maps over the square's position, as in ZF Fig. 7: (b) the "
            "total activation of the layer-5 map strongest on the whole picture, (d) the "
            "probability of the class the net picks for the whole picture, (e) the class it "
            "picks with the square there.")
loaded = inputs.require_model()
image = inputs.require_image("occlusion")
side = loaded.input_size
left, right = st.columns(2)
size = left.slider("Square side (pixels)", 2, side // 2, DEFAULT_SIZE.get(side, side // 7),
                   key="occ_size")
stride = right.slider("Step (pixels)", 1, side // 4, DEFAULT_STRIDE.get(side, size // 2),
                      key="occ_stride")


@st.cache_data(show_spinner=False, max_entries=32)
def maps(model_name: str, image_bytes: bytes, size: int, stride: int):
    m = resources.model(model_name)[0]
    x = m.preprocess(resources.decode(image_bytes)[0])  # (1, 3, S, S)
    r = occlusion(m.model, x, size=size, stride=stride)
    ys, xs = centres(r.rows, size, x.shape[-2]), centres(r.cols, size, x.shape[-1])
    return (r.activation[0].numpy(), r.probability[0].numpy(), r.top_class[0].numpy(),
            int(r.channel[0]), int(r.target[0]), float(r.base_probability[0]),
            charts.as_picture(x[0]), xs, ys)


with st.spinner("Sliding the square…"):
    act, prob, top, channel, target, base, shown, xs, ys = maps(
        loaded.name, st.session_state.image_bytes, size, stride)
classes = loaded.classes
st.caption(f"Unoccluded: {classes[target]} with probability {base:.1%}; strongest layer-5 map "
           f"{channel}. Each map is laid over the picture: a pixel's colour is what the net did "
           "with the square centred nearest to it.")
present = np.unique(top).tolist()  # the classes picked somewhere, each with its own colour
palette = charts.class_colours(len(present))
lo, hi = float(act.min()), float(act.max())
panels = [
    ("(a) what the net sees", charts.pixelated(shown, 448), ""),
    (f"(b) {loaded.model.roles.last_conv} map {channel}, total",
     charts.cells_over(shown, charts.colours(act, "Viridis", lo, hi), xs, ys),
     charts.colour_bar("Viridis", lo, hi)),
    (f"(d) p({classes[target]})", charts.cells_over(shown, charts.colours(prob, "RdBu", 0, 1), xs, ys),
     charts.colour_bar("RdBu", 0, 1, "{:.0%}")),
    ("(e) most probable class",
     charts.cells_over(shown, palette[np.searchsorted(present, top)], xs, ys),
     charts.swatches([(classes[c], palette[i]) for i, c in enumerate(present)])),
]
for row in (panels[:2], panels[2:]):
    for col, (title, picture, legend) in zip(st.columns(2), row):
        col.markdown(f"**{title}**")
        col.image(picture, width="stretch", output_format="PNG")
        if legend:  # markdown, not st.html: the page then needs no extra browser code for it
            col.markdown(legend, unsafe_allow_html=True)
