"""Widgets shared by several pages: where the picture comes from, and the model notes."""

from __future__ import annotations

import streamlit as st

from alexnet.images import READABLE

from alexnet import weights

from . import collection, resources, state

# Any file is accepted and judged by its contents (alexnet.images.load_image): a
# browser's extension filter refuses a good JPEG named "photo" with only a hover hint.
UPLOAD_TYPES = None
SOURCES = ("Upload", "Camera", "Sample")
SAMPLES = 500  # pictures of the user's folder offered as samples


def _accept(data: bytes, name: str) -> None:
    image, problem = resources.decode(data)
    if image is None:
        st.error(f"**{name}**: {problem}")
        state.set_image(None, None)  # never show results for the previous picture under this error
        return
    if data != st.session_state.image_bytes:
        state.set_image(data, name)


def image_picker(key: str) -> None:
    """Upload, camera or a sample (CIFAR-10's, or the user's folder with another model); a readable
    picture becomes the session's image."""
    source = st.radio("Picture from", SOURCES, horizontal=True, key=f"{key}_source")
    if source == "Upload":
        f = st.file_uploader(f"Upload a picture ({READABLE})", type=UPLOAD_TYPES,
                             key=f"{key}_upload")
        if f is not None:
            _accept(f.getvalue(), f.name)
    elif source == "Camera":
        shot = st.camera_input("Take a picture", key=f"{key}_camera")
        if shot is not None:
            _accept(shot.getvalue(), "camera photo")
    elif (found := _folder_for_samples()) is not None:
        names = {found.label(i): i for i in range(min(len(found), SAMPLES))}
        name = st.selectbox(f"Picture from {found.root.name}", list(names), index=None,
                            placeholder="choose one", key=f"{key}_folder_sample")
        if name is not None:
            try:
                _accept(found.read(names[name]), name)
            except OSError as e:
                st.error(f"**{name}** cannot be read ({e.strerror})")
    else:
        data, note = resources.cifar_test()
        if data is None:
            st.info(note)
            return
        samples = resources.sample_images(resources.cifar_source()[0])
        name = st.selectbox("CIFAR-10 test image", list(samples), index=None,
                            placeholder="choose one", key=f"{key}_sample")
        if note:
            st.caption(note)
        if name is not None:
            _accept(samples[name], f"CIFAR-10 test image: {name}")


def _folder_for_samples():
    """The user's picture folder, when the model chosen reads other pictures than CIFAR-10's."""
    if weights.entries()[st.session_state.model_name].preprocessing.dataset == "cifar10":
        return None
    return collection.current()[0]


def current_image():
    """The session's picture as an RGB PIL image, or None."""
    data = st.session_state.image_bytes
    return None if data is None else resources.decode(data)[0]


def require_model():
    """The model chosen in the sidebar, or a note on how to get it and a stop."""
    loaded, note = resources.model(st.session_state.model_name)
    if loaded is None:
        st.warning(note)
        st.stop()
    return loaded


def require_cifar(loader):
    """A CIFAR-10 split from ``loader`` (``resources.cifar_test`` or ``cifar_train``): the
    full set, or the embedded sample with a one-line note saying so; or why the full set
    here cannot be used, and a stop."""
    data, note = loader()
    if data is None:  # the full set is here but cannot be used: say why, show nothing stale
        st.info(note)
        st.stop()
    if note:
        st.caption(note)
    return data


def require_image(key: str):
    """The session's picture (with a way to change it), or a prompt and a stop."""
    with st.expander("Picture", expanded=st.session_state.image_bytes is None):
        image_picker(key)
    image = current_image()
    if image is None:
        st.info("Choose a picture above (or on the Predict page) to see this for it.")
        st.stop()
    return image
