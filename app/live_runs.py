"""Live experiment runs, shared by the Experiments and Paper claims pages.

A run is an ``ExperimentJob``: its own process, in a folder of this browser
session's own, so a rerun or another session never touches it. One job per
experiment and session, kept in ``st.session_state["exp_job_<experiment>"]``,
so a run started on one page shows on the other. The pages only read the
job's progress file and draw it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import streamlit as st

from analysis.experiments import EXPERIMENTS, ExperimentJob, ExperimentResult
from analysis.experiments.relu_tanh import ratio_table
from app import charts, resources, vega

POLL_S = 1.5  # seconds between looks at a running job's progress file


def job_dir(experiment: str) -> Path:
    """This browser session's folder for ``experiment`` (the session id lives in session_state)."""
    sid = st.session_state.setdefault("experiments_session", uuid.uuid4().hex)
    return Path(tempfile.gettempdir()) / "alexnet-lab-jobs" / sid / experiment


def job(experiment: str) -> ExperimentJob | None:
    """This session's job for ``experiment``, if it started one."""
    return st.session_state.get(f"exp_job_{experiment}")


def running(experiment: str) -> bool:
    j = job(experiment)
    return j is not None and j.running()


def start(experiment: str, cfg) -> None:
    """Start ``experiment`` with ``cfg`` in the background on the CIFAR-10 the app reads;
    an impossible setting is shown as one line. Reruns the page so it draws the running state."""
    source, _ = resources.cifar_source()
    threads = max(1, (os.cpu_count() or 2) - 1)  # leave a core to the app and other sessions
    try:
        j = ExperimentJob.start(job_dir(experiment), experiment, cfg, source, threads=threads, nice=10)
    except (ValueError, RuntimeError) as e:
        st.error(str(e))
        return
    st.session_state[f"exp_job_{experiment}"] = j
    st.rerun()  # draw the inputs disabled and Stop enabled, from the top


def stop(experiment: str) -> None:
    """A button callback: ask this session's job for ``experiment`` to stop."""
    j = job(experiment)
    if j is not None:
        j.stop()


def show(experiment: str) -> None:
    """The session's job for ``experiment``: progress and growing curves, polled while it runs."""
    polling = running(experiment)
    st.fragment(_show, run_every=POLL_S if polling else None)(experiment, polling)


def _show(experiment: str, polling: bool) -> None:
    j = job(experiment)
    if j is None:
        return
    p = j.progress()
    state = p["state"]
    if state in ("starting", "running"):
        where = (f"{p['net']}, lr {p['lr']:g}, epoch {p['epoch']:.2f}, training error "
                 f"{p['train_error']:.3f}" if "net" in p else "starting the worker and reading the data")
        st.progress(float(p.get("fraction", 0.0)), text=f"Running: {where}")
    elif state == "done":
        st.success("Finished.")
    elif state == "stopped":
        st.warning("Stopped; the curves below are as far as it got.")
    else:
        st.error(f"The run failed: {p.get('error')}")
    if p.get("partial"):
        res = ExperimentResult.from_dict(p["partial"])
        draw_result(res, f"{EXPERIMENTS[experiment].title} (this run)", key=f"live_{experiment}")
        if state == "done":
            show_figures(j.result())
    if polling and state not in ("starting", "running"):
        st.rerun()  # the whole page, so the Stop button goes and the polling ends


def draw_result(res: ExperimentResult, title: str, key: str) -> None:
    """One run's curves: every lr of a grid run (the winner solid), else each net's curve."""
    target = res.config["target_error"]
    if any("curve" in e for lrs in res.grid.values() for e in lrs.values() if isinstance(e, dict)):
        st.altair_chart(vega.grid_curves(res.grid, {n: c.lr for n, c in res.curves.items()}, title, target),
                        width="stretch", key=key)
        rows = ratio_table(res)
        if rows:
            st.plotly_chart(charts.ratio_grid(rows, f"tanh / ReLU epochs to {target:.0%}, every lr pair"),
                            width="stretch", key=f"{key}_ratios")
    else:
        st.altair_chart(vega.error_curves([res.curves], title, target), width="stretch", key=key)


def show_figures(r: ExperimentResult | None) -> None:
    """The finished run's figures in words."""
    if r is None:
        return
    t = r.config["target_error"]
    for name, e in r.epochs_to_target.items():
        st.write(f"- **{name}**: " + (f"{t:.0%} training error at epoch {e:.2f}" if e
                                      else f"did not reach {t:.0%} in {r.config['epochs']:g} epochs"))
    for name, e in r.test_error.items():
        st.write(f"- **{name}**: final test error {e:.1%}")
    if r.ratio:
        st.write(f"Ratio tanh / ReLU: **{r.ratio:.1f}x** (the paper: 6x).")
    elif r.ratio_lower_bound:
        st.write(f"Ratio tanh / ReLU: more than **{r.ratio_lower_bound:.1f}x** (tanh never got there).")
