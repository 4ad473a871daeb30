"""Session defaults, set once per browser session by the router."""

import streamlit as st

from alexnet.weights import entries

MODELS = {name: w.title for name, w in entries().items()}  # the weights registry's entries
DEFAULTS = {
    "model_name": "cifar10",  # a key of MODELS
    "image_bytes": None,  # the current picture, as uploaded (bytes)
    "image_name": None,  # where it came from, for captions
}


def init() -> None:
    from . import collection

    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    if collection.KEY not in st.session_state:  # the folder chosen last, even before a restart
        st.session_state[collection.KEY] = collection.remembered()


def set_image(data: bytes, name: str) -> None:
    st.session_state.image_bytes = data
    st.session_state.image_name = name
