"""Architecture: the layer table of AK Fig. 2 with its arithmetic, receptive fields,
AlexNet and ZFNet side by side (ZF 4.1, Fig. 3), and the two towers."""

import pandas as pd
import streamlit as st
import torch

from alexnet.registry import build_model, models
from alexnet.summary import layer_table, totals
from app import charts

VARIANTS = {name: m.title for name, m in models().items() if m.architecture_page}  # the nets registry


@st.cache_data(show_spinner=False)
def table(variant: str):
    with torch.device("meta"):  # shapes only: no memory, no weights
        model = build_model(variant)
    return layer_table(model), model.roles.towers


st.title("Architecture")
variant = st.radio("Network", list(VARIANTS), format_func=lambda v: VARIANTS[v],
                   horizontal=True, key="arch_variant")
rows, towers = table(variant)
params, macs = totals(rows)
a, b, c = st.columns(3)
a.metric("parameters", f"{params / 1e6:.2f} M")
b.metric("multiply-adds per image", f"{macs / 1e6:,.0f} M")
c.metric("towers", towers)

st.subheader("Layers")
st.markdown("Each conv or pool layer maps a side of W pixels to **⌊(W − F + 2P)/S⌋ + 1** "
            "(F kernel, P padding, S stride). The column *side arithmetic* shows it for every layer.")
frame = pd.DataFrame([{
    "layer": r.name, "kind": r.kind, "output": " x ".join(map(str, r.shape)),
    "side arithmetic": r.size_formula, "detail": r.detail, "parameters": r.params,
    "multiply-adds": r.macs, "receptive field": r.receptive_field or None,
    "inputs from": r.towers} for r in rows])
st.dataframe(frame, hide_index=True, width="stretch", height=35 * (len(rows) + 1) + 3,
             column_config={"side arithmetic": st.column_config.TextColumn(width="large"),
                            "detail": st.column_config.TextColumn(width="medium"),
                            "inputs from": st.column_config.TextColumn(width="medium"),
                            "parameters": st.column_config.NumberColumn(format="localized"),
                            "multiply-adds": st.column_config.NumberColumn(format="localized")})

st.subheader("Side by side")
st.markdown("ZF 4.1 changed AlexNet's first layers after looking at them (Fig. 6): conv1 7x7 at "
            "stride 2 instead of 11x11 at stride 4, conv2 at stride 2, and dense conv3-5 (one "
            "tower). The *receptive field* is the side of the input patch one unit sees, worked "
            "out from each stage's kernel and stride: rf' = rf + (k − 1)·jump, jump' = jump·stride.")
pick = list(VARIANTS)
left, right = st.columns(2)
for col, default, key in ((left, "alexnet", "arch_left"), (right, "zfnet", "arch_right")):
    with col:
        name = st.selectbox("Network", pick, index=pick.index(default) if default in pick else 0,
                            format_func=lambda v: VARIANTS[v], key=key)
        net_rows, _ = table(name)
        p, m = totals(net_rows)
        st.caption(f"{p:,d} parameters · {m / 1e6:,.0f} M multiply-adds per image")
        st.dataframe(pd.DataFrame([{
            "layer": r.name, "output": " x ".join(map(str, r.shape)), "parameters": r.params,
            "multiply-adds": r.macs, "receptive field": r.receptive_field or None}
            for r in net_rows if r.kind in ("conv", "max-pool", "fc", "LRN")]),
            hide_index=True, width="stretch",
            column_config={"parameters": st.column_config.NumberColumn(format="localized"),
                           "multiply-adds": st.column_config.NumberColumn(format="localized")})

st.subheader("Where the towers talk")
st.markdown("Each tower ran on its own GPU (AK 3.2). conv2, conv4 and conv5 see only their own "
            "tower's maps; conv3 and the fully connected layers take input from both, drawn "
            "in red.")
st.graphviz_chart(charts.towers_diagram(rows, towers), width="stretch")
