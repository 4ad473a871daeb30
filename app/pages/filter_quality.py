"""Filter quality: ZF Fig. 6 in numbers (dead kernels, high frequencies, aliasing)."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from alexnet.registry import build_model
from alexnet.weights import available, entries
from analysis.filter_quality import DEAD_BELOW, HALF_NYQUIST, layer_quality
from app import resources

st.title("Filter quality")
st.markdown(
    "ZF 4.1 read AlexNet's first two layers by eye (Fig. 6): conv1 (11x11, stride 4) is *\"a mix "
    "of extremely high and low frequency information, with little coverage of the mid "
    "frequencies\"*, some features are *dead*, and conv2 shows *\"aliasing artifacts caused by "
    "the large stride 4\"*. ZFNet's conv1 (7x7, stride 2) gave *\"more distinctive features and "
    "fewer dead features\"* (Fig. 6 (c), (e)). Here the same three things are numbers:")
st.markdown(
    f"- **dead**: a kernel whose RMS is below {DEAD_BELOW:.0%} of the layer's median kernel RMS;\n"
    f"- **high-frequency share**: of a kernel's energy (its 2D Fourier transform), the share above "
    f"{HALF_NYQUIST} cycles per pixel (half the Nyquist frequency of the pixel grid), averaged over "
    "the live kernels. A constant kernel has 0, a checkerboard 1;\n"
    "- **aliased share**: the share above the Nyquist frequency of the layer's own stride, 1/(2·stride): "
    "that energy folds back to lower frequencies in the map the next layer reads. At stride 1 it is 0.")


@st.cache_data(show_spinner="Reading the kernels…")
def quality(source: str):
    """(rows for the table, {layer: mean frequency per kernel}) for weights or an untrained net."""
    if source.startswith("untrained:"):
        torch.manual_seed(0)
        model = build_model(source.split(":", 1)[1], init="kaiming")
    else:
        model = resources.model(source)[0].model
    found = layer_quality(model)
    rows = [{"weights": source, "layer": q.layer, "stride": q.stride, "kernels": len(q.rms),
             "dead": q.dead_fraction, "high-frequency share": q.high_fraction,
             "aliased share": q.aliased_fraction, "mean frequency": float(q.mean_frequency.mean())}
            for q in found]
    return rows, {q.layer: q.mean_frequency.tolist() for q in found}


ready = available()
sources = [n for n in entries() if ready[n]] + ["untrained:alexnet_cifar", "untrained:zfnet_cifar",
                                               "untrained:alexnet", "untrained:zfnet"]
missing = [n for n in entries() if not ready[n]]
chosen = st.multiselect("Weights", sources, default=[s for s in sources if not s.startswith("untrained")
                                                    or s == "untrained:alexnet_cifar"], key="fq_sources",
                        help="trained weights on this machine, and untrained nets (He init, seed 0) "
                             "as the baseline training started from")
if missing:
    st.caption("Not on this machine: " + ", ".join(missing) + " (see the Weights section of the README).")
if not chosen:
    st.info("Choose at least one set of weights.")
    st.stop()

results = {s: quality(s) for s in chosen}
frame = pd.DataFrame([r for rows, _ in results.values() for r in rows])
st.dataframe(frame, hide_index=True, width="stretch", column_config={
    k: st.column_config.NumberColumn(format="%.2f") for k in
    ("dead", "high-frequency share", "aliased share", "mean frequency")})

st.subheader("Where the energy of each kernel sits")
st.markdown("Per kernel, the energy-weighted mean of max(|f_y|, |f_x|) in cycles per pixel (0: flat, "
            "0.5: a checkerboard). ZF's complaint about AlexNet's conv1 is a two-humped histogram here: "
            "many kernels near 0, many high, few in between.")
layer = st.radio("Layer", ["conv1", "conv2"], horizontal=True, key="fq_layer")
bins = np.arange(0, 0.5 + 1e-9, 0.025)
shares = pd.DataFrame({s: np.histogram(freqs[layer], bins)[0] / len(freqs[layer])
                       for s, (_, freqs) in results.items() if layer in freqs},
                      index=pd.Index([f"{a:.3f}" for a in bins[:-1]], name="mean frequency (cycles/pixel), from"))
st.bar_chart(shares, stack=False, y_label="share of kernels", height=340)  # a plain chart: no plotly to load
st.caption("The shipped CIFAR-10 net's conv1 is 5x5 at stride 1, so nothing aliases in it; torchvision's "
           "ImageNet AlexNet (11x11, stride 4) is the net ZF described, once its weights are here.")
