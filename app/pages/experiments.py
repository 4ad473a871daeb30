"""Experiments: ReLU vs tanh (AK 3.1, Fig. 1), why (how saturated tanh starts) and the LRN
ablation (AK 3.3), shipped and live.

A live run is an ``ExperimentJob`` (``app.live_runs``, shared with the Paper claims page):
its own process, in a folder of this browser session's own. The page only reads the job's
progress file and draws it.
"""

from dataclasses import replace

import streamlit as st

from analysis.experiments import EXPERIMENTS, load_reference, preset
from analysis.experiments.reference import STALE, made_with_full_preset, reference_command
from analysis.experiments.relu_tanh import grid_edge, lr_table
from analysis.experiments import relu_tanh_saturation as saturation
from app import charts, live_runs, resources, vega

PAPER = {name: e.claim for name, e in EXPERIMENTS.items()}  # the experiments registry
TITLES = {name: e.title for name, e in EXPERIMENTS.items()}
LR_TABLE_NOTE = ("Epochs to {target:.0%} training error; * the learning rate the rule picked; \"> N\": not there "
                 "when it stopped, after N epochs (the picked one's time: none of the others could still be "
                 "faster), or the cap.")
INPUTS_NOTE = ("Inputs *centred-raw* are the paper's (AK 2): pixel values 0-255 minus the mean "
               "image. With the paper's N(0, 0.01) weights, tanh units start saturated on them, "
               "which is where much of tanh's slowness comes from; *standardised* inputs and "
               "PyTorch's default init make the two train alike.")


@st.cache_data(show_spinner=False)
def reference(experiment: str, folder: str, mtime: float):
    """The shipped reference document (``mtime`` makes a replaced file a new entry)."""
    return load_reference(experiment, folder=folder)


def ratio_text(summary: dict) -> str:
    """Mean and 95% interval over seeds ("≥" where some seeds only bound it); older
    references without the interval: mean ± spread, or "> x" when tanh missed."""
    iv = summary.get("ratio_interval")
    if iv and iv.get("mean") is not None:
        at_least = "≥ " if iv["censored"] else ""
        spread = f" [{iv['low']:.1f}, {iv['high']:.1f}]" if iv["low"] is not None else ""
        return f"{at_least}{iv['mean']:.1f}x{spread}"
    r, low = summary["ratio"], summary.get("ratio_at_least", {})
    if r.get("n") == len(r["per_seed"]):
        return f"{r['mean']:.1f}x ± {r['std']:.1f}"
    return f"> {low['min']:.1f}x" if low.get("n") else "n/a"


def show_summary(experiment: str, summary: dict, config: dict, runs) -> None:
    """Measured figures over seeds (mean ± spread), beside the paper's."""
    target = config["target_error"]
    if experiment == "relu-tanh":
        cols = st.columns(3)
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
        iv = summary.get("ratio_interval")
        if iv and iv.get("n"):
            st.caption(f"Ratio: mean and 95% interval over {iv['n']} seeds"
                       + (f"; in {iv['censored']} tanh never reached {target:.0%} in the {config['epochs']:g}-epoch "
                          "cap, so its bound (cap / ReLU's epochs) stands in and the ratio is at least this"
                          if iv["censored"] else "") + f". Verdict against the paper's 6x: **{iv['verdict']}**.")
        edge = grid_edge(runs, config["lrs"])
        if edge:
            st.caption("Every seed picked " + grid_ends(edge, config["lrs"]) + ": the fastest one may lie "
                       "beyond the grid, untried, so each net's epochs are the grid's best, not necessarily the net's.")
        rows = lr_table(runs)
        if rows:  # runs of the "fastest" rule: each lr's own epochs
            with st.expander("Every learning rate of the grids, per seed"):
                st.dataframe(rows, hide_index=True, width="stretch")
                st.caption(LR_TABLE_NOTE.format(target=target))
    elif experiment == "relu-tanh-saturation":
        by_scale = summary["ratio_by_input_scale"]
        st.plotly_chart(charts.ratio_by_scale(by_scale, "tanh / ReLU epochs by input scale"),
                        width="stretch", key=f"ratio_scale_{experiment}")
        st.dataframe(scale_rows(by_scale, summary["epochs_to_target"]), hide_index=True, width="stretch")
        st.caption("Saturated: the share of conv1's tanh units whose pre-activation starts beyond ±2 (slope "
                   "below 0.07). ReLU is the control: scaling the inputs also scales its signal, so the claim "
                   "compares tanh's change with ReLU's (the ratio at the largest scale over the smallest).")
        for x, s in by_scale.items():
            if s.get("edge"):
                st.caption(f"At input scale {float(x):g} every seed picked " + grid_ends(s["edge"], config["lrs"])
                           + ": the fastest may lie beyond the grid, untried.")
        rows = saturation.lr_table(runs)
        if rows:
            with st.expander("Every learning rate of the grids, per input scale and seed"):
                st.dataframe(rows, hide_index=True, width="stretch")
                st.caption(LR_TABLE_NOTE.format(target=config["target_error"]))
    else:  # the ablations: every arm's final test error (and train-test gap), then each claim measured
        arms = list(summary["test_error"])
        gaps = summary.get("gap", {})
        for col, name in zip(st.columns(len(arms)), arms):
            s, g = summary["test_error"][name], gaps.get(name, {})
            col.metric(f"{name}: test error", f"{s['mean']:.1%} ± {s['std']:.1%}" if s.get("n") else "n/a",
                       help=f"per seed: {s.get('per_seed')}"
                            + (f"; train-test gap {g['mean']:.1%}" if g.get("n") else ""))
        for c in summary.get("claims", []):
            ours = (f"{c['mean']:+.2f} (95% interval {c['low']:+.2f} to {c['high']:+.2f})" if c.get("low") is not None
                    else f"{c['mean']:+.2f}" if c.get("mean") is not None else "not measured")
            paper = f"{c['paper']:+g}" if c.get("paper") is not None else "no number given"
            st.caption(f"{c['source']}: {c['statement']} Paper: {paper}; ours over {c['n']} seed(s): {ours} "
                       f"{c['unit']}. Verdict: **{c['verdict']}**.")


def grid_ends(edge: dict, lrs: dict) -> str:
    """``grid_edge``'s {net: "smallest" or "largest"} in words, each with its lr from ``lrs``."""
    return " and ".join(f"{net}'s {end} learning rate ({(min if end == 'smallest' else max)(lrs[net]):g})"
                        for net, end in edge.items())


def scale_rows(by_scale: dict, epochs: dict) -> list[dict]:
    """relu-tanh-saturation's summary as rows: per input scale, the saturated share, each net's
    mean epochs to the target and the ratio with its interval."""
    def mean(s):
        if not s.get("n"):
            return "not reached"
        return f"{s['mean']:.2f}" + (f" ({s['n']} seeds)" if s["n"] < len(s["per_seed"]) else "")

    def ratio(s):
        if not s.get("n"):
            return "n/a"
        return (f"{s['mean']:.2f}" + (f" [{s['low']:.2f}, {s['high']:.2f}]" if s.get("low") is not None else "")
                + (" (at least)" if s.get("censored") else ""))

    return [{"input scale": float(x),
             "tanh units saturated": "" if s.get("saturated") is None  # a small share keeps a decimal
                                     else f"{s['saturated']:.{1 if s['saturated'] < 0.1 else 0}%}",
             **{f"{net} epochs": mean(epochs.get(saturation.key(net, float(x)), {})) for net in ("relu", "tanh")},
             "tanh / ReLU": ratio(s)}
            for x, s in by_scale.items()]


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
    show_summary(experiment, doc["summary"], cfg, doc["runs"])
    if not made_with_full_preset(experiment, doc):  # e.g. relu-tanh's, made before the fair lr rule
        st.caption(f"{STALE}: `{reference_command(experiment)}`")
    st.altair_chart(vega.error_curves([r.curves for r in doc["runs"]], f"{TITLES[experiment]} "
                                        f"(seeds {doc['seeds']})", cfg["target_error"], "paper's line"),
                    width="stretch", key=f"ref_{experiment}")
    st.caption(f"{PAPER[experiment]}. Here: inputs {cfg.get('inputs', 'standardised')}, "
               f"init {cfg['init']}, learning rates tried {cfg['lrs']}, "
               f"at most {cfg['epochs']:g} epochs, {cfg['subset'] or 'all'} training images; "
               f"{doc['wall_seconds']:.0f} s on {doc['machine'].get('cpus')} CPUs. "
               f"Made with `{doc['command']}`.")


def run_section(experiment: str) -> None:
    st.subheader("Run it now")
    running = live_runs.running(experiment)
    left, mid, right = st.columns(3)
    name = left.radio("Preset", ("quick", "full"), horizontal=True, key=f"exp_{experiment}_preset",
                      disabled=running)
    cfg = preset(experiment, name)
    epochs = mid.number_input("Epochs (at most)", 0.5, 500.0, float(cfg.epochs), 0.5,
                              key=f"exp_{experiment}_{name}_epochs", disabled=running)
    note = resources.cifar_source()[1]
    total = 50_000 if note is None else len(resources.cifar_train()[0])
    subset = right.number_input(f"Training images (0: all {total:,})", 0, total,
                                min(cfg.subset, total), 1000,
                                key=f"exp_{experiment}_{name}_subset", disabled=running)
    cfg = replace(cfg, epochs=float(epochs), subset=int(subset),
                  sweep_epochs=min(cfg.sweep_epochs, float(epochs)))
    rule = ("the fewest epochs to the target picks one" if cfg.lr_rule == "fastest"
            else "a short sweep picks one")
    st.caption(f"Learning rates tried per net: {cfg.lrs} ({rule} when there are several); inputs "
               f"{cfg.inputs}" + (f" times {', '.join(f'{x:g}' for x in cfg.input_scales)}" if cfg.input_scales else "")
               + f", init {cfg.init} (std {cfg.init_std}), "
               f"batch {cfg.batch_size}. The quick presets take 10 s to about a minute on two idle cores (longer while "
               "other work runs); the full ones, minutes to hours a seed.")
    st.caption(INPUTS_NOTE)
    if note:
        st.caption(note)
    a, b = st.columns(2)
    if a.button("Start", type="primary", disabled=running, key=f"exp_{experiment}_start"):
        live_runs.start(experiment, cfg)
    # A callback runs before the page is drawn, so the buttons below already show the
    # stopped state (an in-line handler ran after Start had been drawn disabled).
    b.button("Stop", disabled=not running, key=f"exp_{experiment}_stop", on_click=live_runs.stop,
             args=(experiment,))
    live_runs.show(experiment)


st.title("Experiments")
st.markdown("Claims of AlexNet checked on CIFAR-10 with a small four-layer net "
            "(conv-pool x3 + fc, the accepted stand-in; the paper does not give it). Shipped "
            "results show at once; a live run trains in the background and its curves grow here.")
# Only the chosen tab's experiment is drawn ("rerun" tabs): drawing all of them, each
# with its curves over several seeds, kept a fresh browser busy for two seconds.
tabs = st.tabs([e.label for e in EXPERIMENTS.values()], key="exp_tab", on_change="rerun")
for tab, experiment in zip(tabs, EXPERIMENTS):
    if tab.open:
        with tab:
            st.markdown(PAPER[experiment] + ".")
            show_reference(experiment)
            run_section(experiment)
