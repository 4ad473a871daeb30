"""Session defaults, set once per browser session by the router."""

import streamlit as st

MODELS = {"cifar10": "CIFAR-10 AlexNet (shipped, two towers)",
          "imagenet": "ImageNet AlexNet (torchvision)"}
DEFAULTS = {
    "model_name": "cifar10",  # a key of MODELS
    "image_bytes": None,  # the current picture, as uploaded (bytes)
    "image_name": None,  # where it came from, for captions
}


def init() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def set_image(data: bytes, name: str) -> None:
    st.session_state.image_bytes = data
    st.session_state.image_name = name
