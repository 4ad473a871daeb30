"""Transfer: a fixed net, a new softmax on one layer, your image folder (ZF 5.1)."""

from pathlib import Path

import streamlit as st

from analysis.layer_features import hidden_layers
from analysis.transfer import ZF_TRANSFER, list_folder, transfer
from app import collection, inputs, resources

st.title("Transfer")
st.markdown(
    "ZF 5.1 kept the ImageNet net's layers fixed and trained only a new softmax on top: 86.5% on "
    "Caltech-101 with 30 images a class, 74.2% on Caltech-256 with 60, far above the methods of the "
    "day when labelled images are few. Point this page at a folder on this machine with one "
    "sub-folder of images per class (e.g. Caltech-101, downloaded by you): N images a class "
    "train the classifier on the chosen layer, the rest test it.")
loaded = inputs.require_model()
found, _ = collection.current()  # the sidebar's picture folder, when it has class folders
folder = st.text_input("Image folder (one sub-folder per class)", key="tr_folder",
                       value=str(found.root) if found is not None and found.labelled else "",
                       placeholder="/home/you/data/caltech101")
if not folder:
    st.info("Type the path of a folder on the machine running the app (or choose a picture folder "
            "with one sub-folder per class in the sidebar).")
    st.stop()
try:
    classes, files = list_folder(folder)
except (FileNotFoundError, ValueError) as e:
    st.error(str(e))
    st.stop()
fewest = min(sum(1 for _, y in files if y == c) for c in range(len(classes)))
st.caption(f"{len(classes)} classes, {len(files)} images, at least {fewest} a class.")
if fewest < 2:
    st.error("Every class needs at least 2 images: one to train on and one to test.")
    st.stop()
layers = hidden_layers(loaded.model)
a, b, c = st.columns(3)
layer = a.selectbox("Layer", layers, index=layers.index(loaded.model.roles.penultimate)
                    if loaded.model.roles.penultimate in layers else len(layers) - 1, key="tr_layer")
per_class = (b.slider("Labelled images a class, N", 1, fewest - 1, min(30, fewest - 1), key="tr_n")
             if fewest > 2 else 1)
splits = c.slider("Random splits", 1, 10, 3, key="tr_splits")
params = (loaded.name, str(Path(folder).expanduser()), layer, per_class, splits)
if st.button("Run", type="primary", key="tr_run"):
    st.session_state.tr_params = params
if st.session_state.get("tr_params") != params:
    st.info("Press **Run** to extract the features and fit the classifier.")
    st.stop()


@st.cache_data(show_spinner="Reading the images and fitting the classifier…", max_entries=8)
def run(model_name: str, folder: str, layer: str, per_class: int, splits: int):
    r = transfer(resources.model(model_name)[0], folder, layer, per_class, splits)
    return r.mean, r.std, r.accuracy.tolist(), r.images, r.skipped, len(r.classes)


try:
    mean, std, accs, images, skipped, k = run(*params)
except ValueError as e:
    st.error(str(e))
    st.stop()
x, y, z = st.columns(3)
x.metric("test accuracy", f"{mean:.1%}", help="per split: " + ", ".join(f"{v:.1%}" for v in accs))
y.metric("spread over splits", f"± {std:.1%}")
z.metric("chance", f"{1 / k:.1%}")
st.caption(f"{images} images read" + (f"; {len(skipped)} unreadable files skipped" if skipped else "") +
           ". ZF 5.1 (ImageNet net, softmax on layer 7): " +
           ", ".join(f"{d} {v}%" for d, v in ZF_TRANSFER.items()) + ". The same from the command line: "
           f"`python -m analysis.transfer --folder {params[1]} --model {loaded.name} --layer {layer} "
           f"--per-class {per_class} --splits {splits}`.")
