"""Deconvnet: what a feature map responds to, projected back to pixels (ZF 2.1, Fig. 2)."""

import streamlit as st

from alexnet.stages import num_channels, rectified_maps
from app import inputs, zf_views

st.title("Deconvnet")
st.markdown("Pick a layer and one of its feature maps. The deconvnet keeps that map's strongest "
            "activation, zeroes the rest, and runs the net backwards to pixels: unpool with "
            "the max-pool switches, rectify, filter with the transposed kernels (ZF 2.1).")
loaded = inputs.require_model()
model = loaded.model
layers = list(rectified_maps(model))  # ZF project the rectified maps of layers 1-5
left, right = st.columns(2)
layer = left.selectbox("Layer", layers, index=len(layers) - 1, key="deconv_layer")
channels = num_channels(model, layer)
channel_key = f"deconv_channel_{layer}"
zf_views.open_on_strongest(loaded, layer, channel_key)
channel = right.number_input(f"Feature map (0 to {channels - 1})", 0, channels - 1, key=channel_key,
                             on_change=zf_views.choose_map, args=(channel_key,))

st.subheader("Top 9 (ZF Fig. 2)")
zf_views.top9_section(loaded, layer, int(channel), "deconv")

st.subheader("Your picture")
image = inputs.require_image("deconv")
zf_views.strongest_maps_line(loaded, layer, channel_key)
zf_views.projection_section(loaded, layer, int(channel), "deconv")
