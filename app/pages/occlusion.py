"""Occlusion: slide a grey square over the picture and watch the net (ZF 4.2, Fig. 7)."""

import numpy as np
import streamlit as st

from analysis.occlusion import DEFAULT_SIZE, DEFAULT_STRIDE, occlusion
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
    return (r.activation[0].numpy(), r.probability[0].numpy(), r.top_class[0].numpy(),
            int(r.channel[0]), int(r.target[0]), float(r.base_probability[0]),
            charts.as_picture(x[0]))


with st.spinner("Sliding the square…"):
    act, prob, top, channel, target, base, shown = maps(loaded.name, st.session_state.image_bytes,
                                                        size, stride)
classes = loaded.classes
st.caption(f"Unoccluded: {classes[target]} with probability {base:.1%}; strongest layer-5 map "
           f"{channel}. Each map cell is one position of the square's top-left corner.")
cols = st.columns(4)
cols[0].plotly_chart(charts.picture(shown, "what the net sees"), width="stretch", key="occ_input")
cols[1].plotly_chart(charts.heatmap(act, f"(b) {loaded.model.roles.last_conv} map {channel}, total"),
                     width="stretch",
                     key="occ_act")
cols[2].plotly_chart(charts.heatmap(prob, f"(d) p({classes[target]})", "RdBu", 0, 1),
                     width="stretch", key="occ_prob")
names = np.vectorize(lambda i: classes[i])(top)
cols[3].plotly_chart(charts.heatmap(top, "(e) most probable class", "Turbo", 0, len(classes) - 1,
                                    text=names), width="stretch", key="occ_top")
