"""Attribution: five answers to "which pixels made this score?", side by side
(ZF 2.1; Simonyan et al. 2014; Springenberg et al. 2015; Selvaraju et al. 2017; Sundararajan et al. 2017)."""

import streamlit as st

from analysis._layers import num_channels, stages
from analysis.attribution import METHODS, RELU_RULE, TITLES, attribute_all
from app import charts, inputs, resources, serve, tiles

st.title("Attribution")
st.markdown("The same picture and the same target, a class score or one unit, sent back to the "
            "pixels five ways. The methods differ mainly in how the signal passes a ReLU on the "
            "way down: Simonyan et al. showed the deconvnet and the gradient differ only there, "
            "and Springenberg et al. that guided backprop is the deconvnet masked by the forward "
            "pass's ReLUs.")
loaded = inputs.require_model()
model = loaded.model
# captum, with the matplotlib it imports, takes about half a second on two cores: app.serve's
# warm-up imports it; under a plain `streamlit run`, imported while the picture is chosen.
serve.import_soon("captum.attr")
image = inputs.require_image("attr")
pred = resources.top5(loaded.name, st.session_state.image_bytes, False)

left, mid, right = st.columns(3)
kind = left.radio("Explain", ("a class", "a unit"), horizontal=True, key="attr_kind")
if kind == "a class":
    top = pred.indices[0]
    target = mid.selectbox("Class", range(len(loaded.classes)), index=top, key="attr_class",
                           format_func=lambda c: loaded.classes[c] + (" (top guess)" if c == top else ""))
    layer = None
else:
    names = [n for n, _ in stages(model)][:-1]
    last = model.roles.last_conv  # ZF's layer 5 (act5 in AlexNet) first
    layer = mid.selectbox("Layer", names, index=names.index(last) if last in names else 0, key="attr_layer")
    n = num_channels(model, layer)
    target = mid.number_input(f"Unit (0 to {n - 1})", 0, n - 1, 0, key=f"attr_unit_{layer}")
steps = right.slider("Integrated gradients: steps", 8, 128, 32, step=8, key="attr_steps")


@st.cache_data(show_spinner="Attributing…", max_entries=32)
def attributions(model_name: str, image_bytes: bytes, target: int, layer, steps: int):
    loaded = resources.model(model_name)[0]
    x = loaded.preprocess(resources.decode(image_bytes)[0])
    out = {}
    for m, r in attribute_all(loaded.model, x, target, layer=layer, steps=steps).items():
        if isinstance(r, str):
            out[m] = r
        else:
            where = None if r.position is None else tuple(r.position[0].tolist())
            out[m] = (charts.as_picture(r.pixels[0]) if r.pixels.shape[1] == 3 else None,
                      r.heat[0].numpy(), where)
    return charts.as_picture(x[0]), out


shown, results = attributions(loaded.name, st.session_state.image_bytes, int(target), layer, steps)
what = loaded.classes[target] if layer is None else f"{layer} unit {target}"
where = next((r[2] for r in results.values() if not isinstance(r, str) and r[2] is not None), None)
cols = st.columns(len(METHODS) + 1)
cols[0].markdown(f"**Target: {what}**" + (f" at {where}" if where else ""))
# Pictures, not charts: six of them are the page's answer, and a page without plotly
# charts draws it seconds sooner on a busy two-core machine (bench/bench_pages.py).
cols[0].image(charts.pixelated(shown, 224), width="stretch", caption="what the net sees",
              output_format="PNG")
cols = cols[1:]
for col, m in zip(cols, METHODS):
    col.markdown(f"**{TITLES[m]}**")
    r = results[m]
    if isinstance(r, str):
        col.info(r)
    else:
        picture, heat, _ = r
        if m in ("deconvnet", "guided_backprop"):
            col.image(charts.pixelated(picture, 224), width="stretch", output_format="PNG")
        else:
            row, column = divmod(int(heat.argmax()), heat.shape[1])
            col.image(tiles.heat_picture(heat), width="stretch", output_format="PNG",
                      caption=f"largest {heat.max():.3g} at row {row}, column {column}")
    col.caption(RELU_RULE[m])
st.caption("Deconvnet and guided backprop are shown as pictures scaled to their own range; "
           "saliency as |gradient| (largest over colours), integrated gradients as |attribution| "
           "summed over colours, Grad-CAM upsampled from the last conv layer, each from black (0) "
           "to pale yellow (its own maximum), one square per pixel the net sees. Here the "
           "deconvnet is captum's, through every stage (it differentiates LRN, which the "
           "Deconvnet page skips as ZF did).")
