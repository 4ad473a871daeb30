"""Slow page data, computed once per server in a background thread, with progress.

A page asks ``page_data(name, compute, label)``: the shipped file or the
disk cache answers at once; otherwise one thread per ``name`` computes it
(every session that asks meanwhile shows the same progress and none starts
it again) and writes it to the disk cache, while the asking pages wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from analysis.page_data import Store

WAIT_S = 2.0  # small jobs finish inside this, and the page draws without a progress bar
POLL_S = 1.0


@dataclass
class Job:
    label: str
    fraction: float = 0.0
    result: object = None
    error: str | None = None
    computed: bool = False  # False: read from the shipped file or the disk cache
    done: threading.Event = field(default_factory=threading.Event)


@st.cache_resource(show_spinner=False)
def _server() -> tuple[Store, dict, threading.Lock]:
    """The store and the running jobs, shared by every session of this server."""
    return Store(), {}, threading.Lock()


def _run(job: Job, name: str, compute, store: Store | None) -> None:
    try:
        job.result = compute(lambda done, total: setattr(job, "fraction", done / max(1, total)))
        try:
            if store is not None:
                store.put(name, job.result)
        except OSError:
            pass  # a read-only cache folder: the result still serves this server
    except Exception as e:  # shown on the page; the job is retried on the next visit
        job.error = str(e) if getattr(e, "plain", False) else f"{type(e).__name__}: {e}"
    finally:
        job.done.set()


def job(name: str, compute, label: str, keep: bool = True) -> Job:
    """The job for ``name``: already done (shipped or cached), running, or started now.

    ``compute(progress)`` runs in a thread and must not call Streamlit;
    ``progress(done, total)`` moves the bar. ``keep``: store the result as page data.
    """
    store, running, lock = _server()
    with lock:
        j = running.get(name)
        if j is None or j.error:
            j = Job(label)
            value = store.get(name) if keep else None
            if value is not None:
                j.result, j.fraction = value, 1.0
                j.done.set()
            else:
                j.computed = True
                threading.Thread(target=_run, args=(j, name, compute, store if keep else None),
                                 daemon=True, name=f"page-data {name}").start()
            running[name] = j
    return j


def stored(name: str) -> bool:
    """Is ``name`` done already: shipped, on disk, or computed by this server?"""
    j = running(name)
    return (j is not None and j.done.is_set() and not j.error) or _server()[0].get(name) is not None


def running(name: str) -> Job | None:
    """The job started under ``name`` on this server, if any."""
    return _server()[1].get(name)


def forget(name: str) -> None:
    """Drop a finished job, so asking again starts afresh (a download retried)."""
    with _server()[2]:
        _server()[1].pop(name, None)


def page_data(name: str, compute, label: str):
    """The value of ``name``, or None after an error message. While it is computed the page
    waits here, in its own script run, drawing a progress bar: waiting in the script, rather
    than polling from the browser, cannot miss the end of the job, and a click or another
    page still interrupts it (every bar update is a point where Streamlit stops a run)."""
    j = job(name, compute, label)
    if not j.done.wait(WAIT_S):
        started = time.monotonic()
        bar = st.progress(0.0)
        while not j.done.is_set():
            bar.progress(j.fraction, text=f"{label}: {j.fraction:.0%} (computed once for this server "
                         f"and kept on disk; {time.monotonic() - started:.0f} s so far)")
            j.done.wait(POLL_S)
        bar.empty()
    if j.error:
        st.error(f"{label} failed: {j.error}. Reload the page to try again.")
        return None
    return j.result
