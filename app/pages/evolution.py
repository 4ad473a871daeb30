"""Evolution: one feature map's strongest activation, projected, epoch by epoch (ZF Fig. 4)."""

import streamlit as st

from alexnet.checkpoint import CheckpointError
from alexnet.stages import num_channels, rectified_maps
from analysis import page_data
from analysis.evolution import evolution, load_snapshots
from analysis.top9 import LayerScan
from app import charts, inputs, jobs, resources


st.title("Evolution")
st.markdown("ZF Fig. 4: training keeps the conv weights at a few epochs. For each chosen feature "
            "map and each of those epochs, the strongest activation over a sample of CIFAR-10 "
            "test images is projected back to pixels with the deconvnet (ZF 2.1). Lower layers "
            "settle within a few epochs; upper layers take much longer.")
loaded = inputs.require_model()
if loaded.name == "imagenet":  # the shipped snapshots are the CIFAR-10 model's
    st.info("torchvision ships no training snapshots for its ImageNet AlexNet, only "
            "the final weights, so there is no evolution to show. Choose the CIFAR-10 model in the "
            "sidebar (its snapshots ship), or train your own with `python -m alexnet.train "
            "--snapshot-epochs 1,2,5,10,20`.")
    st.stop()
folder = resources.pretrained_dir() / "snapshots"
if not sorted(folder.glob("epoch*.pt")):
    st.info(f"No training snapshots at `{folder}`. They ship with the CIFAR-10 model "
            "(restore `pretrained/` from the repository), or train with "
            "`python -m alexnet.train --snapshot-epochs 1,2,5,10,20` and copy "
            "`runs/<run>/snapshots/` there.")
    st.stop()
data = inputs.require_cifar(resources.cifar_test)


@st.cache_resource(show_spinner="Reading the snapshots…", max_entries=2)
def snapshots(model_name: str, folder: str, stamp: tuple):
    """``load_snapshots`` checked against the model (``stamp`` notices new or replaced files)."""
    return load_snapshots(folder, resources.model(model_name)[0].model)


def tables(loaded, folder: str, layer: str, n: int):
    """Every map's strongest test image at every snapshot: shipped, cached, or computed once
    per server in the background while the page waits (None after an error)."""
    images, _ = page_data.spread(data, n)
    name = page_data.key("evolution", resources.model_sha(loaded), resources.data_sha(False), n=n,
                         layer=layer, snapshots=page_data.snapshots_digest(folder))
    return jobs.page_data(name, lambda progress: page_data.compute_evolution(
        loaded.model, snaps, images, layer, loaded.mean, loaded.std, progress),
        f"Scanning {n} test images for {layer} at {len(snaps)} epochs"), name


@st.cache_data(show_spinner=False, max_entries=32)
def grid(model_name: str, folder: str, stamp: tuple, layer: str, channels: tuple, n: int,
         _tables, key: str):
    """Projections of ``channels`` at every snapshot (``_tables``: the data behind ``key``)."""
    m = resources.model(model_name)[0]
    images, step = page_data.spread(data, n)
    scans = {(e, layer): LayerScan.from_table(_tables[str(e)]) for e in _tables["epochs"]}
    units = evolution(m.model, snapshots(model_name, folder, stamp), images,
                      [(layer, c) for c in channels], mean=m.mean, std=m.std, scans=scans)
    return [(u.channel, u.epochs, [charts.receptive_field(p, b) for p, b in zip(u.projection, u.boxes)],
             (u.image_index * step).tolist(), u.value.tolist()) for u in units]


stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("epoch*.pt")))
try:
    snaps = snapshots(loaded.name, str(folder), stamp)
except (ValueError, CheckpointError, FileNotFoundError) as e:
    st.warning(f"These snapshots do not fit the model chosen in the sidebar ({loaded.name}): {e}")
    st.stop()
layers = list(rectified_maps(loaded.model))  # ZF Fig. 4's layers 1-5, rectified maps
left, right = st.columns([1, 3])
layer = left.selectbox("Layer", layers, index=len(layers) - 1, key="evo_layer")
count = num_channels(loaded.model, layer)
channels = right.multiselect(f"Feature maps (0 to {count - 1})", list(range(count)),
                             default=list(range(min(3, count))), max_selections=6,
                             key=f"evo_channels_{layer}")
if not channels:
    st.info("Choose at least one feature map.")
    st.stop()
n = min(page_data.EVOLUTION_IMAGES, len(data))
found, name = tables(loaded, str(folder), layer, n)
if found is None:
    st.stop()
rows = grid(loaded.name, str(folder), stamp, layer, tuple(sorted(channels)), n, found, name)
st.caption(f"{layer}: {len(rows)} map(s) at epochs {[e for e, _ in snaps]}, strongest over {n} "
           "test images; each picture is the unit's receptive field, enlarged.")
for channel, epochs, pictures, index, values in rows:
    st.markdown(f"**{layer}, map {channel}**")
    cols = st.columns(len(epochs))
    for col, e, pic, i, v in zip(cols, epochs, pictures, index, values):
        col.image(pic, caption=f"epoch {e}: {v:.2f} (test #{i})", width="stretch")
st.caption("Each projection is scaled to its own range. The image with the strongest "
           "activation may change from epoch to epoch: the map is learning what to look for.")
