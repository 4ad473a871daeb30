"""Invariance: move, zoom and turn the picture, and watch layers 1 and 7 and the output (ZF Fig. 5)."""

import streamlit as st

from analysis.invariance import invariance_all
from app import inputs, resources, vega

COLUMNS = {"translate": ("Vertical translation", "pixels moved down"),
           "scale": ("Scale", "zoom factor"),
           "rotate": ("Rotation", "degrees anticlockwise")}

st.title("Invariance")
st.markdown("ZF Fig. 5: the picture is moved down, zoomed about its centre and turned, and for "
            "each amount we measure how far the features move from the original's (Euclidean "
            "distance) at layer 1 (after conv1's pooling) and layer 7 (fc7), and the probability "
            "of the class the net picks for the untouched picture. ZF found layer 1 changing a "
            "lot, layer 7 about linearly in translation and scale, and the output steady under "
            "translation and scale but not rotation. Uncovered pixels are the dataset's mean colour.")
loaded = inputs.require_model()
image = inputs.require_image("invariance")


@st.cache_data(show_spinner=False, max_entries=32)
def curves(model_name: str, image_bytes: bytes):
    m = resources.model(model_name)[0]
    x = m.preprocess(resources.decode(image_bytes)[0])  # (1, 3, S, S)
    out, roles = {}, m.model.roles  # ZF's layer 1 and layer 7 are the net's first block and fc7
    for name, c in invariance_all(m.model, x).items():
        out[name] = (c.amounts.numpy(), c.distances[roles.first_block].numpy(),
                     c.distances[roles.penultimate].numpy(),
                     c.probability.numpy(), [m.classes[i] for i in c.top_class[0].tolist()])
    return out, int(c.target[0])


with st.spinner("Transforming the picture and running the net…"):
    result, target = curves(loaded.name, st.session_state.image_bytes)
label = loaded.classes[target]
st.caption(f"The class tracked: **{label}** (the net's pick for the untouched picture; a "
           "picture of your own has no true label).")
for col, (name, (title, unit)) in zip(st.columns(3), COLUMNS.items()):
    amounts, layer1, layer7, prob, top = result[name]
    with col:
        st.subheader(title)
        st.altair_chart(vega.sweeps(amounts, [("layer 1 distance", layer1, False),
                                                ("layer 7 distance", layer7, False),
                                                (f"p({label})", prob, True)], unit),
                        width="stretch", key=f"inv_{name}")
        changed = [f"{a:g}: {t}" for a, t in zip(amounts, top) if t != label]
        st.caption("Top class elsewhere: " + ", ".join(changed[:8]) + (" …" if len(changed) > 8 else "")
                   if changed
                   else f"The top class stays {label} throughout.")
