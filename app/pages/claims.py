"""Paper claims: every claim of AK and ZF that an experiment tests, the paper's number
against ours (mean and 95% interval over the shipped reference's seeds), a verdict, and a
live rerun of the experiment's quick preset. Measuring is ``analysis.experiments``'s;
this page draws."""

import streamlit as st

from analysis.experiments import EXPERIMENTS, preset
from analysis.experiments.claims import MEANING, describe, relative
from analysis.experiments.reference import claim_rows, reference_command
from app import charts, live_runs, resources

BADGE = {"holds": "green", "weaker": "orange", "opposite": "red", "not significant": "gray",
         "censored": "blue"}


@st.cache_resource(show_spinner=False, max_entries=8)  # claims hold functions: not picklable
def rows(folder: str, stamp: tuple):
    """The claims measured on the references in ``folder`` (``stamp``: their mtimes, so a
    replaced reference is read again). Read-only frozen rows, so sharing them is safe."""
    return claim_rows(folder)


def stamp(folder) -> tuple:
    files = [folder / e.reference_file for e in EXPERIMENTS.values()]
    return tuple(f.stat().st_mtime if f.is_file() else None for f in files)


def ours(row) -> str:
    m = row.measured
    if m is None or m.mean is None:
        return "—"
    at_least = "≥ " if m.censored else ""
    spread = f" [{m.low:.2f}, {m.high:.2f}]" if m.low is not None else ""
    cut = f", {m.censored} only a bound" if m.censored else ""
    return f"{at_least}{m.mean:.2f}{spread} ({m.n} seed{'s' if m.n != 1 else ''}{cut})"


def claim_row(i: int, row, first: bool) -> None:
    c, e = row.claim, row.experiment
    source, claim, paper, mine, verdict, button = st.columns([1, 4, 1.2, 2.2, 1.4, 1.4])
    source.markdown(f"**{c.source}**")
    claim.markdown(c.statement)
    claim.caption(f"Scaled down: {c.scaled_down}" if c.scaled_down else "")
    said = (f"{c.paper:g}" if c.paper is not None  # a claim without a size names only its side of "no effect"
            else f"{'above' if getattr(c, 'direction', 0) > 0 else 'below'} {c.null:g}")
    paper.markdown(f"{said}  \n<small>{c.unit}</small>", unsafe_allow_html=True)
    if row.measured is None:
        mine.markdown(f"*{row.note}*")
        mine.code(row.command, language="bash", wrap_lines=True)  # a narrow column: all of it shows
        verdict.markdown(":gray-badge[no reference]")
    else:
        mine.markdown(ours(row), help=describe(c, row.measured) + (f". Made with `{row.command}`"
                                                                  if row.command else ""))
        if row.note:  # measured, but on an earlier protocol than today's full preset
            mine.caption(f"{row.note}: `{reference_command(e)}`")
        v = row.measured.verdict
        verdict.markdown(f":{BADGE[v]}-badge[{v}]")
    busy = live_runs.running(e)
    if button.button("Rerun quick", key=f"claim_{i}_rerun", disabled=busy,
                     help=f"Runs {EXPERIMENTS[e].label}'s quick preset in the background; the curves grow below"):
        live_runs.start(e, preset(e, "quick"))
    if first and live_runs.job(e) is not None:  # the live run shows once, under its experiment's first row
        with st.expander(f"Live run: {EXPERIMENTS[e].label}", expanded=True):
            st.button("Stop", key=f"claim_{e}_stop", disabled=not busy, on_click=live_runs.stop, args=(e,))
            live_runs.show(e)


st.title("Paper claims")
st.markdown("Each claim of AlexNet (AK) and Zeiler & Fergus (ZF) that an experiment here tests: the "
            "paper's number beside ours, the mean and 95% interval over the shipped reference's "
            "seeds (Student's t), at CIFAR scale. *Rerun quick* trains the experiment's quick preset "
            "now, in the background: a smaller, faster version, for seeing the curves grow, not a verdict.")
st.caption(" · ".join(f":{BADGE[v]}-badge[{v}] {m}" for v, m in MEANING.items()))
folder = resources.pretrained_dir()
table = rows(str(folder), stamp(folder))
note = resources.cifar_source()[1]
if note:
    st.caption(note)
head = st.columns([1, 4, 1.2, 2.2, 1.4, 1.4])
for col, name in zip(head, ("source", "claim", "paper", "ours (95% interval)", "verdict", "")):
    col.markdown(f"**{name}**")
seen = set()
for i, row in enumerate(table):
    with st.container(border=True):
        claim_row(i, row, row.experiment not in seen)
    seen.add(row.experiment)
measured = [(f"{r.claim.source}: {r.claim.statement[:40]}…", r.measured.verdict,
             relative(r.claim, r.measured), r.measured.censored) for r in table if r.measured is not None]
if measured:
    st.plotly_chart(charts.claims_forest(measured, "Ours against the paper (1 = the paper's effect)"),
                    width="stretch", key="claims_forest")
    st.caption("Each claim's effect scaled so that 0 is no effect and 1 the paper's number (a ratio of "
               "6x: (ratio - 1) / 5). Bars: our 95% interval; a triangle: censored seeds, so the "
               "effect is at least there.")
