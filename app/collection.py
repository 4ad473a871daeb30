"""The user's picture folder: chosen in the sidebar (remembered), scanned once per model.

The folder typed in the sidebar is kept in ``<cache>/images_folder.txt``, so a
restarted server opens with it; until one is typed, ``ALEXNET_IMAGES`` names
it. Each model scans it once per server in the background (``app.jobs``),
with progress, and the scan is kept on disk under a key made of the weights'
sha256 and the folder's listing (paths, sizes, modification times): a
changed file means a new scan, another model its own.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from alexnet.collection import COLLECTION_ENV, Collection, default_folder, prepared, scan_folder
from alexnet.data import cache_dir
from analysis import page_data
from analysis.collection_scan import scan_collection

from . import jobs, resources

KEY = "images_folder"  # the sidebar's text input
LISTING_TTL_S = 5  # how long a folder's listing is trusted before it is read again


def _memory() -> Path:
    return cache_dir() / "images_folder.txt"


def remembered() -> str:
    """The folder chosen last (on this machine), else ``ALEXNET_IMAGES``, else ""."""
    try:
        return _memory().read_text().strip()
    except OSError:
        return default_folder()


def _remember() -> None:
    try:
        _memory().parent.mkdir(parents=True, exist_ok=True)
        _memory().write_text(st.session_state[KEY].strip())
    except OSError:
        pass  # a read-only cache: the choice lasts for this session only


@st.cache_resource(show_spinner=False, ttl=LISTING_TTL_S, max_entries=8)
def _listing(folder: str):
    try:
        return scan_folder(folder), None
    except (FileNotFoundError, ValueError) as e:
        return None, str(e)


def current() -> tuple[Collection | None, str | None]:
    """(the chosen folder's pictures, None), (None, why it cannot be used), or (None, None)."""
    folder = (st.session_state.get(KEY) or "").strip()
    return _listing(folder) if folder else (None, None)


def sidebar() -> None:
    """The folder's text input, and one line saying what is in it or what is wrong."""
    st.text_input("Picture folder", key=KEY, on_change=_remember,
                  placeholder="/home/you/pictures",
                  help="A folder on the machine running the app: pictures straight in it, or one "
                       "sub-folder per class. Top 9, Neighbours, Correspondence and Layer features "
                       f"search it with the chosen model. Remembered; `{COLLECTION_ENV}` sets it too.")
    found, problem = current()
    if problem:
        st.error(problem)
    elif found is not None:
        kinds = f", {len(found.classes)} classes" if found.classes else " (no class folders)"
        st.caption(f"{len(found):,} pictures{kinds}")


HOW = ("With this model the pages search your own pictures: type a folder's path under *Picture "
       f"folder* in the sidebar (pictures straight in it, or one sub-folder per class), or start the "
       f"app with `{COLLECTION_ENV}=/path/to/pictures`.")


def source(loaded, key: str) -> tuple[str | None, Collection | None]:
    """Where a page searches: ("cifar", None) for the CIFAR-10 model (or, when the user picks it,
    the folder), ("folder", pictures) for any other model; (None, None) after a one-line note."""
    found, problem = current()
    if loaded.dataset == "cifar10":
        if found is None:
            return "cifar", None
        pick = st.radio("Search in", ("CIFAR-10", f"your folder ({found.root.name})"), horizontal=True,
                        key=f"{key}_source_set")
        return ("cifar", None) if pick == "CIFAR-10" else ("folder", found)
    if found is None:
        st.info(problem or HOW)
        return None, None
    return "folder", found


def scan_name(loaded, found: Collection) -> str:
    """The key the scan of ``found`` by ``loaded`` is kept under (weights and folder contents)."""
    return page_data.key("collection", resources.model_sha(loaded), found.digest)


def scan(loaded, found: Collection):
    """``scan_collection`` of ``loaded`` over ``found``: from the disk cache, or computed once per
    server in the background while the page waits with a progress bar (None after an error)."""
    name = scan_name(loaded, found)
    result = jobs.page_data(name, lambda progress: scan_collection(
        loaded.model, found, loaded.preprocessing, progress=progress),
        f"Scanning {len(found):,} pictures in {found.root} with {loaded.name}")
    if result is not None and result["unreadable"]:
        bad = result["unreadable"]
        st.caption(f"{len(bad)} of {len(found):,} files cannot be read and are left out: "
                   + ", ".join(f"{f} ({why})" for f, why in bad[:3]) + (", ..." if len(bad) > 3 else ""))
    return result


@st.cache_data(show_spinner=False, max_entries=64)
def pictures(digest: str, files: tuple[int, ...], preprocessing, _found: Collection):
    """Pictures ``files`` of ``_found`` as the net sees them, (n, 3, S, S) uint8 (cached by
    the folder's ``digest``, the indices and the preprocessing)."""
    return prepared(_found, files, preprocessing)[0]
