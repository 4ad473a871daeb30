"""Layer features: how well a linear classifier does on each layer (ZF 5.2, Table 7)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from analysis import page_data
from analysis.layer_features import ZF_TABLE_7, balanced_subset, hidden_layers
from analysis.linear_probe import probe_accuracy
from app import charts, collection, inputs, jobs, resources

st.title("Layer features")
charts.load_plotly_early()
st.markdown(
    "ZF 5.2 kept the ImageNet net fixed and trained a linear classifier on the features of one "
    "layer at a time, with 30 (Caltech-101) or 60 (Caltech-256) labelled images a class: the "
    "accuracy rises with depth (Table 7). Here a linear softmax (L2-penalised, fitted by L-BFGS) "
    "on each rectified layer's features, averaged over 2x2 cells of the map, with N labelled "
    "CIFAR-10 test images (or pictures of your folder) a class, tested on the others; the bars are the spread over random splits.")
loaded = inputs.require_model()
where, found = collection.source(loaded, "lf")
if where is None:
    st.stop()
if where == "folder":
    if not found.labelled:
        st.info(f"`{found.root}` has no class folders: a classifier needs labelled pictures, one "
                "sub-folder per class (at least two).")
        st.stop()
    scan = collection.scan(loaded, found)
    if scan is None:
        st.stop()
    labels, classes, what = scan["labels"], found.classes, f"pictures in {found.root.name}"
else:
    data = inputs.require_cifar(resources.cifar_test)
    labels, classes, what = data.labels, data.classes, "CIFAR-10"
pool, defaults = page_data.layer_features_settings(labels, len(classes))
a, b, c = st.columns(3)
if pool < 2:
    st.warning("Every class needs at least 2 images: one to train on, one to test.")
    st.stop()
total = a.slider("Images a class", 2, pool, defaults["total"], key="lf_total") if pool > 2 else 2
per_class = (b.slider("Labelled (training) images a class, N", 1, total - 1,
                      min(defaults["per_class"], total - 1), key="lf_n") if total > 2 else 1)
splits = c.slider("Random splits", 1, 10, defaults["splits"], key="lf_splits")
params = (loaded.name, where, total, per_class, splits)
if where == "cifar":  # kept as page data: the shipped model's default table ships with it
    name = page_data.key("layer_features", resources.model_sha(loaded), resources.data_sha(False),
                         total=total, per_class=per_class, splits=splits)
    ready = jobs.stored(name)
else:
    name, ready = None, False
if st.button("Run", type="primary", key="lf_run"):
    st.session_state.lf_params = params
if not ready and st.session_state.get("lf_params") != params:
    st.info("Press **Run** (about a minute for the CIFAR-10 net on two CPU cores)." if where == "cifar"
            else "Press **Run** (the features are read from the folder's scan: seconds).")
    st.stop()


@st.cache_data(show_spinner="Fitting a classifier per layer…", max_entries=8)
def run_folder(model_name: str, name: str, total: int, per_class: int, splits: int, _scan):
    """ZF Table 7 from the folder's scan (``_scan``, kept under ``name``): stored features."""
    m = resources.model(model_name)[0]
    pick = balanced_subset(_scan["labels"], total)
    y = _scan["labels"][pick]
    return [(layer, int(_scan["features"][layer].shape[1]),
             probe_accuracy(_scan["features"][layer][pick].float(), y, per_class, splits).tolist())
            for layer in hidden_layers(m.model)]


if where == "cifar":
    rows = jobs.page_data(name, lambda progress: page_data.compute_layer_features(
        loaded.model, data, total, per_class, splits, loaded.mean, loaded.std, progress),
        f"Linear probes on every layer, {total} images a class")
    if rows is None:
        st.stop()
else:
    rows = run_folder(loaded.name, collection.scan_name(loaded, found), total, per_class, splits, scan)
names = [n for n, _, _ in rows]
means = [100 * float(torch.tensor(acc).mean()) for _, _, acc in rows]
stds = [100 * float(torch.tensor(acc).std()) if len(acc) > 1 else 0.0 for _, _, acc in rows]
fig = go.Figure(go.Scatter(x=names, y=means, error_y=dict(type="data", array=stds), mode="lines+markers",
                           name=f"{loaded.name}, {what}, {per_class} a class"))
if len(names) == 7:  # AlexNet-shaped: act1..act7 are ZF's layers 1..7
    for dataset, values in ZF_TABLE_7.items():
        fig.add_trace(go.Scatter(x=[names[int(k.split()[1]) - 1] for k in values], y=list(values.values()),
                                 mode="lines+markers", line=dict(dash="dot"), name=f"ZF Table 7: {dataset}"))
fig.add_hline(y=100 / len(classes), line=dict(color="grey", dash="dash"), annotation_text="chance")
fig.update_layout(font=charts.FONT, height=380, yaxis=dict(title="test accuracy (%)", range=[0, 100]),
                  xaxis_title="layer", margin=dict(l=10, r=10, t=30, b=10))
st.plotly_chart(fig, width="stretch", key="lf_chart")
st.table(pd.DataFrame([{"layer": n, "features": d, "accuracy (%)": f"{m:.1f} ± {s:.1f}"}
                      for (n, d, _), m, s in zip(rows, means, stds)]), hide_index=True)
st.caption("ZF's numbers are for an ImageNet net on Caltech photos, so only their rise with depth "
           "compares. The command `python -m analysis.layer_features` gives the same table.")
