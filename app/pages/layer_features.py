"""Layer features: how well a linear classifier does on each layer (ZF 5.2, Table 7)."""

import altair as alt
import pandas as pd
import streamlit as st
import torch

from analysis import page_data
from analysis.layer_features import ZF_TABLE_7, balanced_subset, hidden_layers
from analysis.linear_probe import probe_accuracy
from app import collection, inputs, jobs, resources

st.title("Layer features")
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
ours = f"{loaded.name}, {what}, {per_class} a class"
points = pd.DataFrame({"layer": names, "accuracy": means, "low": [m - s for m, s in zip(means, stds)],
                       "high": [m + s for m, s in zip(means, stds)], "series": ours})
if len(names) == 7:  # AlexNet-shaped: act1..act7 are ZF's layers 1..7
    points = pd.concat([points] + [pd.DataFrame({"layer": [names[int(k.split()[1]) - 1] for k in values],
                                                 "accuracy": list(values.values()),
                                                 "series": f"ZF Table 7: {dataset}"})
                                   for dataset, values in ZF_TABLE_7.items()], ignore_index=True)
# Streamlit's own (Vega-Lite) chart: a fresh browser draws it about a second sooner than plotly's
x = alt.X("layer:N", sort=names, title="layer", axis=alt.Axis(labelAngle=0))
series = alt.Color("series:N", title=None, sort=[ours], legend=alt.Legend(orient="bottom", labelLimit=400))
dashed = alt.condition(alt.datum.series == ours, alt.value([1, 0]), alt.value([4, 3]))
lines = alt.Chart(points).mark_line(point=True).encode(
    x, alt.Y("accuracy:Q", title="test accuracy (%)", scale=alt.Scale(domain=[0, 100])), series,
    strokeDash=dashed, tooltip=["series", "layer", alt.Tooltip("accuracy:Q", format=".1f")])
spread = alt.Chart(points.dropna(subset=["low"])).mark_errorbar(ticks=True).encode(
    x, alt.Y("low:Q", title=""), alt.Y2("high:Q"), series)
chance = alt.Chart(pd.DataFrame({"accuracy": [100 / len(classes)], "label": ["chance"]})).encode(
    y="accuracy:Q")
st.altair_chart(lines + spread + chance.mark_rule(strokeDash=[6, 4], color="grey")
                + chance.mark_text(align="left", dx=4, dy=-6, color="grey").encode(text="label:N", x=alt.value(0)),
                width="stretch", height=380, key="lf_chart")
st.table(pd.DataFrame([{"layer": n, "features": d, "accuracy (%)": f"{m:.1f} ± {s:.1f}"}
                      for (n, d, _), m, s in zip(rows, means, stds)]), hide_index=True)
st.caption("ZF's numbers are for an ImageNet net on Caltech photos, so only their rise with depth "
           "compares. The command `python -m analysis.layer_features` gives the same table.")
