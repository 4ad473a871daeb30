"""Predict: a picture in, the model's five most probable classes out (AK Fig. 4, left),
with the picture as the net sees it, calibrated probabilities and an "I am not sure"."""

import streamlit as st

from app import charts, inputs, resources


def about_model(loaded) -> None:
    """How it was trained and what it scored on held-out pictures: test and shifted accuracy,
    its calibration."""
    info = loaded.info
    cal, shifted = info.get("calibration", {}), info.get("shifted_test")
    test = info.get("test", {})
    if "epochs" in info:  # a manifest's: how long it trained, and which weights ship
        weights = info.get("weights", f"the weights at the end of epoch {info['epochs']}")
        st.markdown(f"- Trained {info['epochs']} epochs on CIFAR-10's training images; it predicts "
                    f"with {weights}.")
    if test:
        st.markdown(f"- CIFAR-10 test set: **{test['top1_accuracy']:.1%}** top-1 "
                    f"({test['images']:,} images, one centre crop).")
    if shifted:
        worst = min(shifted["shifts"], key=shifted["shifts"].get)
        st.markdown(f"- The same images shifted as photos differ (zoom, blur, JPEG, colour, "
                    f"contrast): **{shifted['mean_top1_accuracy']:.1%}** on average; hardest: "
                    f"{worst} ({shifted['shifts'][worst]:.1%}).")
    if "temperature" in cal:
        st.markdown(f"- Probabilities are divided by a temperature of {cal['temperature']:.2f} fitted on "
                    f"{cal['fitted_on']}. Expected calibration error on the test set: "
                    f"{cal['test_ece_before']:.1%} before, **{cal['test_ece_after']:.1%}** after.")
        st.plotly_chart(charts.reliability(cal["reliability_after"], "Reliability on the test set"),
                        width="stretch", key="reliability_chart")
        st.caption("Each bar: the pictures the model gave about that top probability, and how often it "
                   "was right. Bars on the dashed line mean '80% sure' is right 80% of the time.")
    else:
        st.markdown("- " + cal.get("note", "These weights carry no calibration: the probabilities "
                                           "are the raw softmax and may be over-confident."))


st.title("Predict")
st.caption("Upload a picture, take one with the camera, or pick a sample (a CIFAR-10 test image, or "
           "one of your picture folder with another model). The model is chosen in the sidebar.")

inputs.image_picker("predict")
image = inputs.current_image()
if image is None:
    st.info("No picture yet: upload one (PNG, JPEG, WebP, BMP or GIF).")
    st.stop()

loaded, note = resources.model(st.session_state.model_name)
left, right = st.columns([1, 2], gap="large")
left.image(image, caption=f"{st.session_state.image_name} ({image.width}x{image.height})",
           width="stretch")
if loaded is None:
    right.warning(note)
    st.stop()
s = loaded.input_size
left.image(charts.pixelated(resources.seen(loaded.name, st.session_state.image_bytes), 160),
           width=min(4 * s, 224), caption=f"what the net sees: {s}x{s} pixels")
with right:
    ten_crop = st.toggle("Average 10 crops (4 corners + centre, and their mirror images; AK 4.1)",
                         key="ten_crop")
    with st.spinner("Classifying…"):
        pred = resources.top5(loaded.name, st.session_state.image_bytes, ten_crop)
    crops = "10 crops averaged" if ten_crop else "one centre crop"
    kind = "calibrated probabilities" if pred.temperature != 1.0 else "softmax"
    st.html(charts.top5(pred, f"Top 5: {pred.classes[0]} ({crops}, {kind})"))
    if pred.unsure:
        st.warning(f"**I am not sure this is one of the {len(loaded.classes)} things I know.** "
                   f"This picture scores {pred.score:.3g} on my 'is it one of my classes' score, below "
                   f"the threshold {pred.threshold:.3g} that 95% of CIFAR-10 pictures I never trained "
                   "on pass. Read the bars as my best guess among my classes, not as an answer.")
    if len(loaded.classes) <= 20:
        st.caption(f"The {len(loaded.classes)} classes this model knows: {', '.join(loaded.classes)}. "
                   "Anything else gets one of these labels anyway.")
    st.caption(f"Model: {loaded.name}, input {s}x{s}. The picture is resized so its shorter side "
               f"fits, then centre-cropped to a square.")

# Drawn only when opened ("rerun" expander): its reliability chart would otherwise make a
# fresh browser fetch and start plotly (about a second on two cores) on the landing page.
about = st.expander("About this model: how far to trust these numbers", key="about_model",
                    on_change="rerun")
if about.open:
    with about:
        about_model(loaded)
