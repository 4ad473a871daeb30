"""Architecture: the layer table of AK Fig. 2 with its arithmetic, and the two towers."""

import pandas as pd
import streamlit as st
import torch

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.summary import layer_table, totals
from alexnet.weights import TORCHVISION_CONFIG
from app import charts

VARIANTS = {
    "imagenet": ("The paper's net (ImageNet, two towers)", AlexNetConfig(variant="imagenet")),
    "cifar": ("This project's CIFAR-10 net (two towers)", AlexNetConfig(variant="cifar", num_classes=10)),
    "torchvision": ("torchvision's AlexNet (one tower, no LRN)", TORCHVISION_CONFIG),
}


@st.cache_data(show_spinner=False)
def table(variant: str):
    config = VARIANTS[variant][1]
    with torch.device("meta"):  # shapes only: no memory, no weights
        model = AlexNet(config)
    return layer_table(model), config.towers


st.title("Architecture")
variant = st.radio("Network", list(VARIANTS), format_func=lambda v: VARIANTS[v][0],
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
    "multiply-adds": r.macs, "inputs from": r.towers} for r in rows])
st.dataframe(frame, hide_index=True, width="stretch", height=35 * (len(rows) + 1) + 3,
             column_config={"side arithmetic": st.column_config.TextColumn(width="large"),
                            "detail": st.column_config.TextColumn(width="medium"),
                            "inputs from": st.column_config.TextColumn(width="medium"),
                            "parameters": st.column_config.NumberColumn(format="localized"),
                            "multiply-adds": st.column_config.NumberColumn(format="localized")})

st.subheader("Where the towers talk")
st.markdown("Each tower ran on its own GPU (AK 3.2). conv2, conv4 and conv5 see only their own "
            "tower's maps; conv3 and the fully connected layers take input from both, drawn "
            "in red.")
st.graphviz_chart(charts.towers_diagram(rows, towers), width="stretch")
