"""Deconvnet: what a feature map responds to, projected back to pixels (ZF 2.1, Fig. 2)."""

import streamlit as st

from analysis._layers import feature_layers, num_channels
from app import inputs, zf_views

LAYERS = ("act1", "act2", "act3", "act4", "act5")  # ZF project rectified maps of layers 1-5

st.title("Deconvnet")
st.markdown("Pick a layer and one of its feature maps. The deconvnet keeps that map's strongest "
            "activation, zeroes the rest, and runs the net backwards to pixels: unpool with "
            "the max-pool switches, rectify, filter with the transposed kernels (ZF 2.1).")
loaded = inputs.require_model()
model = loaded.model
layers = [n for n in LAYERS if n in feature_layers(model)]
left, right = st.columns(2)
layer = left.selectbox("Layer", layers, index=len(layers) - 1, key="deconv_layer")
channels = num_channels(model, layer)
channel = right.number_input(f"Feature map (0 to {channels - 1})", 0, channels - 1, 0,
                             key=f"deconv_channel_{layer}")

st.subheader("Top 9 over the CIFAR-10 test set (ZF Fig. 2)")
zf_views.top9_section(loaded, layer, int(channel), "deconv")

st.subheader("Your picture")
image = inputs.require_image("deconv")
zf_views.strongest_maps_line(loaded, layer)
zf_views.projection_section(loaded, layer, int(channel), "deconv")
