"""Neighbours: the training images (or the user's pictures) nearest to a picture in fc7 space
(AK 6.1, Fig. 4 right)."""

import streamlit as st

from analysis import page_data
from analysis.neighbours import nearest_neighbours
from app import charts, collection, inputs, jobs, resources

st.title("Neighbours")
st.markdown("AK Fig. 4 (right): the training images whose last hidden layer (fc7, 4096 numbers "
            "after its ReLU) is nearest to the picture's by Euclidean distance. They tend to share "
            "the class, though not the pixels: the net's features group what looks alike to it.")
loaded = inputs.require_model()
where, found = collection.source(loaded, "nb")
if where is None:
    st.stop()


def reference(loaded, data, n: int):
    """fc7 of ``n`` training images spread over the set: shipped, cached on disk, or
    computed once per server in the background while the page waits (None after an error)."""
    images, step = page_data.spread(data, n)
    name = page_data.key("neighbours", resources.model_sha(loaded), resources.data_sha(True),
                         n=n, step=step)
    return jobs.page_data(name, lambda progress: page_data.compute_neighbours(
        loaded.model, images, loaded.mean, loaded.std, progress),
        f"fc7 features of {n:,} training images"), step, name


@st.cache_data(show_spinner=False, max_entries=64)
def neighbours(model_name: str, image_bytes: bytes, step: int, k: int, _reference, key: str):
    """The ``k`` nearest of ``_reference`` (the features stored under ``key``) to the picture."""
    m = resources.model(model_name)[0]
    x = m.preprocess(resources.decode(image_bytes)[0])  # (1, 3, S, S)
    found = nearest_neighbours(m.model, x, _reference.float(), k=k)
    index = (found.indices[0] * step).tolist()  # back to the reference set's numbering
    return charts.as_picture(x[0]), index, found.distances[0].tolist()


def row(shown, pictures, captions, where: str) -> None:
    cols = st.columns(len(pictures) + 1)
    cols[0].image(shown, caption="your picture (what the net sees)", width="stretch")
    for col, picture, caption in zip(cols[1:], pictures, captions):
        col.image(picture, caption=caption, width="stretch")
    st.caption(f"Nearest first, among {where}; model: {loaded.name}.")


if where == "folder":
    k = st.slider("Neighbours", 1, 12, 6, key="nb_k")
    image = inputs.require_image("neighbours")
    scan = collection.scan(loaded, found)
    if scan is None:
        st.stop()
    name = collection.scan_name(loaded, found)
    k = min(k, len(scan["index"]))
    shown, index, dist = neighbours(loaded.name, st.session_state.image_bytes, 1, k,
                                    scan["features"][loaded.model.roles.penultimate], name)
    files = tuple(int(scan["index"][i]) for i in index)
    pictures = collection.pictures(found.digest, files, loaded.preprocessing, found)
    row(shown, [charts.hwc(p) for p in pictures],
        [f"{found.label(f)}, distance {d:.1f}" for f, d in zip(files, dist)],
        f"the {len(scan['index']):,} pictures in `{found.root}`")
    st.stop()

data = inputs.require_cifar(resources.cifar_train)
left, right = st.columns(2)
sizes = sorted({min(s, len(data)) for s in page_data.NEIGHBOUR_IMAGES})
n = left.radio("Reference images", sizes, format_func=lambda s: f"{s:,}", horizontal=True,
               key="nb_n", help="Every (50,000 / n)-th training image, so every class is there. "
                                "The first pass over them takes a while; later ones are instant.")
k = right.slider("Neighbours", 1, 12, 6, key="nb_k")
image = inputs.require_image("neighbours")
features, step, name = reference(loaded, data, n)  # (n, D)
if features is None:
    st.stop()
shown, index, dist = neighbours(loaded.name, st.session_state.image_bytes, step, k, features, name)
row(shown, [charts.hwc(data.images[i]) for i in index],
    [f"{data.classes[int(data.labels[i])]}, distance {d:.1f} (#{i})" for i, d in zip(index, dist)],
    f"{n:,} CIFAR-10 training images")
