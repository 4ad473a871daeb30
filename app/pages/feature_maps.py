"""Feature maps: every map of a layer for your picture, strongest first (Yosinski et al. 2015,
section 2); any one of them into its deconvnet projection and its top 9 (ZF 2.1, Fig. 2)."""

import streamlit as st

from analysis._layers import feature_layers
from analysis.attribution import cam_layer
from analysis.grid import activation_grid
from app import charts, inputs, resources, tiles, zf_views

st.title("Feature maps")
charts.load_plotly_early()
st.markdown("Every feature map of one layer for your picture, brightest where the map fires "
            "most, all on one scale. Maps are ranked by their strongest activation, each "
            "tower on its own (the two towers of the paper's net ran on two GPUs, AK 3.2). "
            "Pick a map to see what the deconvnet makes of it and which images excite it most.")
loaded = inputs.require_model()
model = loaded.model
image = inputs.require_image("fm")
layers = list(feature_layers(model))
layer = st.selectbox("Layer", layers, index=layers.index(cam_layer(model)), key="fm_layer")


@st.cache_data(show_spinner=False, max_entries=32)
def grid(model_name: str, image_bytes: bytes, layer: str):
    loaded = resources.model(model_name)[0]
    g = activation_grid(loaded.model, loaded.preprocess(resources.decode(image_bytes)[0]), layer)
    return (g.maps[0].numpy(), g.strength[0].tolist(), [(r.start, r.stop) for r in g.towers],
            [o[0].tolist() for o in g.order])


maps, strength, towers, order = grid(loaded.name, st.session_state.image_bytes, layer)
zmax = max(max(strength), 1e-6)
cols = st.columns(len(towers))
for t, (col, (lo, hi), ranked) in enumerate(zip(cols, towers, order)):
    name = f"tower {'AB'[t]}: maps {lo} to {hi - 1}" if len(towers) > 1 else f"maps 0 to {hi - 1}"
    col.plotly_chart(tiles.mosaic_figure(maps, ranked, f"{layer}, {name}", zmax), width="stretch",
                     key=f"fm_grid_{t}")
st.caption(f"{maps.shape[1]}x{maps.shape[2]} maps, strongest first, row by row; white = "
           f"{zmax:.2f}, the layer's largest activation for this picture. Hover for a map's number.")

everything = sorted(range(len(strength)), key=lambda c: -strength[c])
which = {c: t for t, (lo, hi) in enumerate(towers) for c in range(lo, hi)}
channel = st.selectbox(
    "Map", everything, key=f"fm_map_{layer}",
    format_func=lambda c: f"map {c}" + (f" (tower {'AB'[which[c]]})" if len(towers) > 1 else "")
    + f": strongest activation {strength[c]:.2f}")

st.subheader(f"Map {channel} projected to pixels (deconvnet)")
zf_views.projection_section(loaded, layer, int(channel), "fm")
st.subheader(f"Map {channel}: top 9")
zf_views.top9_section(loaded, layer, int(channel), "fm")
