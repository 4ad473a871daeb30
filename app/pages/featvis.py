"""Feature visualisation: the picture that most excites a unit, found by gradient ascent
(Erhan et al. 2009) with jitter, blur and decay (Yosinski et al. 2015, section 3)."""

import streamlit as st

from alexnet.data import cache_dir
from analysis._layers import num_channels, stages
from analysis.featvis import Settings, visualise
from app import charts, inputs, resources

st.title("Feature visualisation")
st.markdown("Start from a grey picture and change its pixels, step by step, to make one unit "
            "fire as much as it can (Erhan et al. 2009). Left alone this finds noise no camera "
            "would take, so each step sees the picture shifted by a few pixels (jitter), every "
            "few steps it is blurred, and every step pulls it back towards grey (decay): "
            "Yosinski et al. 2015's priors. No dataset is involved: the net draws what it looks for.")
loaded = inputs.require_model()
model = loaded.model
names = [n for n, _ in stages(model) if not n.startswith(("flatten", "drop"))]
left, mid, right = st.columns(3)
last = model.roles.last_conv  # ZF's layer 5 (act5 in AlexNet) first
layer = left.selectbox("Layer", names, index=names.index(last) if last in names else 0, key="fv_layer")
n = num_channels(model, layer)
many = mid.radio("Show", ("one unit", "a grid of units"), horizontal=True, key="fv_many") != "one unit"
if many:
    first = right.number_input(f"First unit (0 to {n - 1})", 0, n - 1, 0, key=f"fv_first_{layer}")
    count = right.select_slider("Units", [4, 8, 16, 32], value=8, key="fv_count")
    channels = list(range(int(first), min(n, int(first) + count)))
else:
    channels = [int(right.number_input(f"Unit (0 to {n - 1})", 0, n - 1, 0, key=f"fv_unit_{layer}"))]
    if layer == names[-1]:
        st.caption(f"Unit {channels[0]} of {layer} is the score of class "
                   f"**{loaded.classes[channels[0]]}**.")

with st.expander("Settings"):
    a, b, c = st.columns(3)
    settings = Settings(
        steps=a.slider("Steps", 16, 512, 128, step=16, key="fv_steps"),
        lr=a.slider("Step size (largest pixel change)", 0.005, 0.2, 0.05, step=0.005, key="fv_lr"),
        jitter=b.slider("Jitter (pixels)", 0, 8, 2, key="fv_jitter"),
        blur_every=b.slider("Blur every … steps (0: never)", 0, 16, 4, key="fv_blur_every"),
        blur_sigma=c.slider("Blur sigma (pixels)", 0.0, 2.0, 0.5, step=0.1, key="fv_sigma"),
        decay=c.slider("Decay towards grey per step", 0.0, 0.1, 0.01, step=0.005, key="fv_decay"),
        unit="mean" if st.toggle("Whole map (mean) instead of its centre unit",
                                 key="fv_mean") else "centre")
if loaded.input_size > 64:
    st.caption(f"{loaded.input_size}x{loaded.input_size} pictures: each step runs the net on the "
               "CPU, so expect minutes; results are kept on disk.")

request = (loaded.name, layer, tuple(channels), settings)
if st.button("Visualise", type="primary", key="fv_go"):
    bar = st.progress(0.0, text="Optimising…")
    result = visualise(model, layer, channels, size=loaded.input_size, mean=loaded.mean, std=loaded.std,
                       settings=settings, cache_dir=cache_dir() / "featvis",
                       shipped=resources.featvis_shipped(),
                       progress=lambda done, total: bar.progress(done / total, text=f"step {done} of {total}"))
    bar.empty()
    st.session_state.fv_result = (request, result)

stored = st.session_state.get("fv_result")
if stored is None or stored[0] != request:
    st.info("Press **Visualise** to optimise a picture for these units (kept on disk for next time).")
    st.stop()
result = stored[1]
per_row = 8 if many else 1
for start in range(0, len(channels), per_row):
    row = st.columns(per_row if many else 3)
    for col, i in zip(row, range(start, min(start + per_row, len(channels)))):
        caption = f"{layer} unit {channels[i]}: {float(result.value[i]):.2f}"
        col.image(charts.hwc(result.images[i]), caption=caption, width="stretch", clamp=True)
if not many:
    # st.line_chart (Vega-Lite), not plotly: a lighter chart code, which paints the picture
    # above sooner on a busy machine (bench/bench_pages.py)
    st.markdown("**The unit's activation during the climb** (jittered)")
    st.line_chart({"step": list(range(1, result.history.shape[1] + 1)),
                   "activation": result.history[0].tolist()}, x="step", y="activation", height=260)
st.caption(("Read from the disk cache or from the pictures shipped with the model (every map of "
            "its last conv layer at the default settings), computed with these very settings. "
            if all(result.cached) else "")
           + "Pictures are shown as optimised, in [0, 1]; the number is the unit's activation for it.")
