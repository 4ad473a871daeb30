"""Filters: the conv1 kernels of each tower and how colour-specific they are (AK Fig. 3)."""

import plotly.graph_objects as go
import streamlit as st

from alexnet.stages import layer
from analysis.filters import conv1_grids, tower_colour, tower_split_test
from app import charts, inputs, resources

st.title("Filters")
st.markdown("AK Fig. 3: of the conv1 kernels, tower A's are largely colour-agnostic (edges, "
            "gratings) and tower B's largely colour-specific (colour blobs), and the paper says "
            "this happens on every run. Below: whether this net shows it. Each kernel is scaled "
            "to its own range, as the paper draws them.")
loaded = inputs.require_model()


@st.cache_data(show_spinner="Laying out the kernels…")
def grids(model_name: str):
    model = resources.model(model_name)[0].model
    pictures = [charts.as_picture(g) for g in conv1_grids(model, cols=12)]
    scores = [(t.tower, t.scores.tolist(), t.mean, t.fraction_above, t.threshold)
              for t in tower_colour(model)]
    return pictures, scores, tower_split_test(model)


pictures, scores, split = grids(loaded.name)
count, _, kh, kw = layer(loaded.model, loaded.model.roles.first_conv).weight.shape  # (96, 3, 11, 11) in AK
st.caption(f"{count} conv1 kernels of {kh}x{kw} pixels, " + (
    f"in {len(pictures)} towers." if len(pictures) > 1 else
    "in one tower: this net is the one-GPU variant (torchvision's AlexNet is), so AK's split "
    "between towers cannot show; the colour score below still says how colour-specific the kernels are."))
columns = st.columns(len(pictures))
for t, (col, pic) in enumerate(zip(columns, pictures)):
    label = f"tower {'AB'[t]}" if len(pictures) > 1 else "one tower"
    # a picture, not a plotly chart: the page's first result then needs no chart code
    col.image(charts.pixelated(pic, 360), caption=f"conv1, {label}", width="stretch",
              output_format="PNG")

st.subheader("How colour-specific is each tower?")
st.markdown("Score per kernel: the share of its energy that is not grey (0 = the same in R, G "
            "and B, e.g. an edge; 1 = colour-opponent). Random kernels average 2/3.")
cols = st.columns(len(scores))
fig = go.Figure()
for col, (tower, values, mean, above, threshold) in zip(cols, scores):
    name = f"tower {'AB'[tower]}" if len(scores) > 1 else "one tower"
    col.metric(f"{name}: mean score", f"{mean:.2f}", help=f"{above:.0%} of kernels above {threshold}")
    fig.add_trace(go.Histogram(x=values, name=name, opacity=0.7, xbins=dict(start=0, end=1, size=0.05)))
fig.update_layout(barmode="overlay", font=charts.FONT, height=320,
                  xaxis_title="colour specificity", yaxis_title="kernels",
                  margin=dict(l=10, r=10, t=30, b=10))
st.plotly_chart(fig, width="stretch", key="colour_hist")

if split is None:
    st.info("This net has one tower, so there is no split to test (torchvision's AlexNet is the "
            "one-GPU 'one weird trick' variant).")
else:
    more, less = ("B", "A") if split.difference >= 0 else ("A", "B")
    verdict = (f"**significant** (p = {split.p_value:.3g} < 0.05): tower {more}'s kernels are more "
               f"colour-specific than tower {less}'s by {abs(split.difference):.2f}"
               if split.significant else
               f"**not significant** (p = {split.p_value:.2f}): a gap of {abs(split.difference):.2f} "
               "arises often by chance when the kernels are shuffled between the towers, so this "
               "net does not show AK's split")
    st.markdown(f"Tower B minus tower A: {split.difference:+.2f}. Permutation test "
                f"({split.permutations:,} random reassignments of the kernels to the towers): {verdict}.")
