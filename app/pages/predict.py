"""Predict: a picture in, the model's five most probable classes out (AK Fig. 4, left)."""

import streamlit as st

from app import charts, inputs, resources

st.title("Predict")
st.caption("Upload a picture, take one with the camera, or pick a CIFAR-10 test image. "
           "The model is chosen in the sidebar.")

inputs.image_picker("predict")
image = inputs.current_image()
if image is None:
    st.info("No picture yet: upload one (PNG, JPEG, WebP, BMP or GIF).")
    st.stop()

left, right = st.columns([1, 2], gap="large")
left.image(image, caption=f"{st.session_state.image_name} ({image.width}x{image.height})",
           width="stretch")
with right:
    loaded, note = resources.model(st.session_state.model_name)
    if loaded is None:
        st.warning(note)
        st.stop()
    ten_crop = st.toggle("Average 10 crops (4 corners + centre, and their mirror images; AK 4.1)",
                         key="ten_crop")
    with st.spinner("Classifying…"):
        pred = resources.top5(loaded.name, st.session_state.image_bytes, ten_crop)
    crops = "10 crops averaged" if ten_crop else "one centre crop"
    st.plotly_chart(charts.top5(pred, f"Top 5: {pred.classes[0]} ({crops})"),
                    width="stretch", key="top5_chart")
    st.caption(f"Model: {loaded.name}, input {loaded.input_size}x{loaded.input_size}, "
               f"{len(loaded.classes)} classes. The picture is resized so its shorter side "
               f"fits, then centre-cropped to a square.")
