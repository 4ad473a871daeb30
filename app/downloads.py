"""The sidebar's Downloads: the full CIFAR-10 and torchvision's ImageNet weights, one click each.

A download runs once per server in the background (``app.jobs``); every
session sees its progress, and the pages switch to the new files by
themselves once they are in place.
"""

from __future__ import annotations

import streamlit as st

from alexnet import download
from alexnet.weights import available, imagenet_cache_path

from . import jobs, resources

POLL_S = 1.0


def _button(name: str, label: str, fetch, what: str) -> None:
    j = jobs.running(name)
    if j is not None and j.done.is_set() and j.error:
        st.error(j.error)  # one line: what failed and where to copy the file by hand
    if j is not None and not j.done.is_set():
        @st.fragment(run_every=POLL_S)
        def progress():
            if j.done.is_set():
                st.rerun()
            st.progress(j.fraction, text=f"{what}: {j.fraction:.0%}")

        progress()
        return
    if st.button(label, key=f"download_{name}", width="stretch"):
        jobs.forget(name)
        jobs.job(name, fetch, what, keep=False).done.wait(jobs.WAIT_S)
        st.rerun()


def panel() -> None:
    """Where the data and weights come from, and buttons to fetch the missing ones."""
    full = resources.full_cifar()
    imagenet = available()["imagenet"]
    with st.expander("Downloads", expanded=False, icon=":material/download:"):
        if full:
            st.caption(f"CIFAR-10: the full set, read from `{resources.data_dir()}`.")
        else:
            st.caption("CIFAR-10: the embedded sample (3,000 images). The full set is 163 MB, "
                       f"unpacked into `{resources.data_dir()}` (torchvision's layout).")
            _button("download-cifar10", "Download CIFAR-10",
                    lambda p: _one_line(lambda: download.cifar10(resources.data_dir(), p)),
                    "Downloading CIFAR-10")
        if imagenet:
            st.caption(f"ImageNet AlexNet weights: `{imagenet_cache_path()}`.")
        else:
            st.caption("ImageNet AlexNet weights (torchvision, 233 MB, sha256 checked): not here; "
                       f"they go to `{imagenet_cache_path()}`.")
            _button("download-imagenet", "Download ImageNet weights",
                    lambda p: _one_line(lambda: download.imagenet_weights(p)),
                    "Downloading the ImageNet weights")


def _one_line(fetch):
    """Run ``fetch``; a DownloadError becomes the job's error without its type name."""
    try:
        return fetch()
    except download.DownloadError as e:
        raise _Plain(str(e)) from None


class _Plain(Exception):
    plain = True  # app.jobs shows the message alone
