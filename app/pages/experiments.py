"""Experiments: ReLU vs tanh (AK 3.1, Fig. 1) and the LRN ablation (AK 3.3), shipped and live.

A live run is an ``ExperimentJob``: its own process, in a folder of this
browser session's own, so a rerun or another session never touches it. The
page only reads the job's progress file and draws it.
"""

import os
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import streamlit as st

from analysis.experiments import EXPERIMENTS, ExperimentJob, ExperimentResult, load_reference, preset
from app import charts, resources

PAPER = {name: e.claim for name, e in EXPERIMENTS.items()}  # the experiments registry
TITLES = {name: e.title for name, e in EXPERIMENTS.items()}
INPUTS_NOTE = ("Inputs *centred-raw* are the paper's (AK 2): pixel values 0-255 minus the mean "
               "image. With the paper's N(0, 0.01) weights, tanh units start saturated on them, "
               "which is where much of tanh's slowness comes from; *standardised* inputs and "
               "PyTorch's default init make the two train alike.")
POLL_S = 1.5  # seconds between looks at a running job's progress file


def job_dir(experiment: str) -> Path:
    """This browser session's folder for ``experiment`` (the session id lives in session_state)."""
    sid = st.session_state.setdefault("experiments_session", uuid.uuid4().hex)
    return Path(tempfile.gettempdir()) / "alexnet-lab-jobs" / sid / experiment


@st.cache_data(show_spinner=False)
def reference(experiment: str, folder: str, mtime: float):
    """The shipped reference document (``mtime`` makes a replaced file a new entry)."""
    return load_reference(experiment, folder=folder)


def ratio_text(summary: dict) -> str:
    """Mean ± spread over seeds; "> x" when in some seed tanh never reached the target."""
    r, low = summary["ratio"], summary.get("ratio_at_least", {})
    if r.get("n") == len(r["per_seed"]):
        return f"{r['mean']:.1f}x ± {r['std']:.1f}"
    return f"> {low['min']:.1f}x" if low.get("n") else "n/a"


def show_summary(experiment: str, summary: dict, config: dict) -> None:
    """Measured figures over seeds (mean ± spread), beside the paper's."""
    cols, target = st.columns(3), config["target_error"]
    if experiment == "relu-tanh":
        for col, name in zip(cols, ("relu", "tanh")):
            s = summary["epochs_to_target"].get(name, {})
            missed = s.get("n", 0) < len(s.get("per_seed", []))
            value = (f"> {config['epochs']:g} in some seeds" if missed and s.get("n")
                     else f"not reached in {config['epochs']:g}" if missed
                     else f"{s['mean']:.2f} ± {s['std']:.2f}")
            col.metric(f"{name}: epochs to {target:.0%}", value, help=f"per seed: {s.get('per_seed')}")
        cols[2].metric("ratio tanh / ReLU", ratio_text(summary),
                       help=f"per seed: {summary.get('ratio_at_least', {}).get('per_seed')} (a lower "
                            "bound where tanh never reached the target); the paper: 6x")
    else:
        for col, name in zip(cols, ("no-lrn", "lrn")):
            s = summary["test_error"].get(name, {})
            col.metric(f"{name}: test error", f"{s['mean']:.1%} ± {s['std']:.1%}" if s.get("n") else "n/a",
                       help=f"per seed: {s.get('per_seed')}")
        cols[2].metric("the paper", "13% → 11%")


def show_reference(experiment: str) -> None:
    folder = resources.pretrained_dir()
    path = folder / EXPERIMENTS[experiment].reference_file
    st.subheader("Shipped results")
    if not path.is_file():
        st.info(f"No shipped results for this experiment (`{path}` is not on this machine). "
                "Run it below, or make them with `python -m analysis.experiments reference "
                f"--experiments {experiment} --data-dir DIR`.")
        return
    try:
        doc = reference(experiment, str(folder), path.stat().st_mtime)
    except ValueError as e:
        st.error(str(e))
        return
    cfg = doc["config"]
    show_summary(experiment, doc["summary"], cfg)
    st.plotly_chart(charts.error_curves([r.curves for r in doc["runs"]], f"{TITLES[experiment]} "
                                        f"(seeds {doc['seeds']})", cfg["target_error"], "paper's line"),
                    width="stretch", key=f"ref_{experiment}")
    st.caption(f"{PAPER[experiment]}. Here: inputs {cfg.get('inputs', 'standardised')}, "
               f"init {cfg['init']}, learning rates tried {cfg['lrs']}, "
               f"at most {cfg['epochs']:g} epochs, {cfg['subset'] or 'all'} training images; "
               f"{doc['wall_seconds']:.0f} s on {doc['machine'].get('cpus')} CPUs. "
               f"Made with `{doc['command']}`.")


def show_job(experiment: str, polling: bool) -> None:
    """The session's job for ``experiment``: progress and growing curves (a fragment when polling)."""
    job = st.session_state.get(f"exp_job_{experiment}")
    if job is None:
        return
    p = job.progress()
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
        st.plotly_chart(charts.error_curves([res.curves], f"{TITLES[experiment]} (this run)",
                                            res.config["target_error"]),
                        width="stretch", key=f"live_{experiment}")
        if state == "done":
            done = job.result()
            show_run_figures(done)
    if polling and state not in ("starting", "running"):
        st.rerun()  # the whole page, so the Stop button goes and the polling ends


def show_run_figures(r: ExperimentResult) -> None:
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


def stop(experiment: str) -> None:
    job = st.session_state.get(f"exp_job_{experiment}")
    if job is not None:
        job.stop()


def run_section(experiment: str) -> None:
    st.subheader("Run it now")
    job = st.session_state.get(f"exp_job_{experiment}")
    running = job is not None and job.running()
    left, mid, right = st.columns(3)
    name = left.radio("Preset", ("quick", "full"), horizontal=True, key=f"exp_{experiment}_preset",
                      disabled=running)
    cfg = preset(experiment, name)
    epochs = mid.number_input("Epochs (at most)", 0.5, 500.0, float(cfg.epochs), 0.5,
                              key=f"exp_{experiment}_{name}_epochs", disabled=running)
    source, note = resources.cifar_source()
    total = 50_000 if note is None else len(resources.cifar_train()[0])
    subset = right.number_input(f"Training images (0: all {total:,})", 0, total,
                                min(cfg.subset, total), 1000,
                                key=f"exp_{experiment}_{name}_subset", disabled=running)
    cfg = replace(cfg, epochs=float(epochs), subset=int(subset),
                  sweep_epochs=min(cfg.sweep_epochs, float(epochs)))
    st.caption(f"Learning rates tried per net: {cfg.lrs} (a short sweep picks one when there are "
               f"several); inputs {cfg.inputs}, init {cfg.init}, batch {cfg.batch_size}. The quick "
               "preset takes about a minute on two cores; the full one, an hour or more.")
    st.caption(INPUTS_NOTE)
    if note:
        st.caption(note)
    a, b = st.columns(2)
    if a.button("Start", type="primary", disabled=running, key=f"exp_{experiment}_start"):
        threads = max(1, (os.cpu_count() or 2) - 1)  # leave a core to the app and other sessions
        try:
            job = ExperimentJob.start(job_dir(experiment), experiment, cfg, source, threads=threads,
                                      nice=10)
        except (ValueError, RuntimeError) as e:
            st.error(str(e))
        else:
            st.session_state[f"exp_job_{experiment}"] = job
            st.rerun()  # draw the inputs disabled and Stop enabled, from the top
    # A callback runs before the page is drawn, so the buttons below already show the
    # stopped state (an in-line handler ran after Start had been drawn disabled).
    b.button("Stop", disabled=not running, key=f"exp_{experiment}_stop", on_click=stop, args=(experiment,))
    st.fragment(show_job, run_every=POLL_S if running else None)(experiment, running)


st.title("Experiments")
st.markdown("Two claims of AlexNet checked on CIFAR-10 with a small four-layer net "
            "(conv-pool x3 + fc, the accepted stand-in; the paper does not give it). Shipped "
            "results show at once; a live run trains in the background and its curves grow here.")
for tab, experiment in zip(st.tabs([e.label for e in EXPERIMENTS.values()]), EXPERIMENTS):
    with tab:
        st.markdown(PAPER[experiment] + ".")
        show_reference(experiment)
        run_section(experiment)
