"""Drawing with Streamlit's own Vega-Lite charts (altair): the line charts a page shows first.
A fresh browser draws these about a second sooner than plotly figures, whose browser code is
4.7 MB (bench/README.md). Kept apart from ``app.charts`` so that the pages without them do not
import altair and pandas (half a second on two cores, before the server's warm-up has)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .charts import COLOURS


def _net_colours(nets) -> alt.Scale:
    """The colour scale of curves by net: the fixed colours where every net has one."""
    nets = list(dict.fromkeys(nets))
    if all(n in COLOURS for n in nets):
        return alt.Scale(domain=nets, range=[COLOURS[n] for n in nets])
    return alt.Scale(domain=nets)


def _error_chart(data: pd.DataFrame, title: str, target: float | None, note: str, dash) -> alt.LayerChart:
    """Error-rate curves of ``data`` (net, line, epoch, error, ...) coloured by net, one line per
    ``line``, with the target's line: a Streamlit (Vega-Lite) chart, which a fresh browser
    draws about a second sooner than a plotly figure."""
    y = alt.Y("error:Q", title="error rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%"))
    tips = [alt.Tooltip(c, format=".3f") if c in ("epoch", "error") else c
            for c in data.columns if c not in ("line", "picked")]
    colour = alt.Color("net:N", title=None, scale=_net_colours(data["net"]), legend=alt.Legend(orient="bottom"))
    layers = [alt.Chart(data).mark_line().encode(alt.X("epoch:Q", title="epochs"), y, colour, strokeDash=dash,
                                                 detail="line:N", tooltip=tips)]
    if target is not None:  # its label ends where the curves do, below the line they come down to
        last = float(data["epoch"].max()) if len(data) else 1.0
        level = alt.Chart(pd.DataFrame({"error": [target], "label": [note], "epoch": [last]})).encode(y="error:Q")
        layers += [level.mark_rule(color="grey", strokeDash=[6, 4]),
                   level.mark_text(align="right", dy=10, color="grey").encode(text="label:N", x="epoch:Q")]
    return alt.layer(*layers, title=title).properties(height=380)


def error_curves(runs, title: str, target: float | None = None, paper: str | None = None) -> alt.LayerChart:
    """Training error (solid) and test error (dotted) against epochs (AK Fig. 1).

    ``runs``: one ``{net name: Curve}`` per seed; one colour per net, one line per seed.
    """
    rows = []
    for seed, curves in enumerate(runs):
        for name, c in curves.items():
            for kind, epochs, errors in (("training", c.epochs, c.train_error), ("test", c.test_epochs, c.test_error)):
                rows += [{"net": name, "error of": kind, "seed": seed, "lr": c.lr, "epoch": e, "error": v,
                          "line": f"{name} {kind} {seed}"} for e, v in zip(epochs or [], errors or [])]
    data = pd.DataFrame(rows, columns=["net", "error of", "seed", "lr", "epoch", "error", "line"])
    dash = alt.StrokeDash("error of:N", title=None, legend=alt.Legend(orient="bottom"),
                          scale=alt.Scale(domain=["training", "test"], range=[[1, 0], [4, 3]]))
    note = f"{target:.0%} training error" + (f" ({paper})" if paper else "") if target is not None else ""
    return _error_chart(data, title, target, note, dash)


def grid_curves(grid: dict, picked: dict, title: str, target: float | None = None) -> alt.LayerChart:
    """Every lr of a grid run (relu_tanh.py's ``result.grid``): one colour per net, the
    picked lr solid, the others dotted, so one sees what the lr rule chose from."""
    rows = []
    for name, lrs in grid.items():
        for lr, e in sorted(lrs.items(), key=lambda kv: float(kv[0])):
            c, lr = e["curve"], float(lr)
            chosen = lr == picked.get(name)
            which = f"{name} lr {lr:g}" + (" (picked)" if chosen else "")
            rows += [{"net": name, "lr": which, "epoch": x, "error": v, "line": which, "picked": chosen}
                     for x, v in zip(c["epochs"], c["train_error"])]
    data = pd.DataFrame(rows, columns=["net", "lr", "epoch", "error", "line", "picked"])
    dash = alt.condition(alt.datum.picked, alt.value([1, 0]), alt.value([2, 3]))
    note = f"{target:.0%} training error" if target is not None else ""
    return _error_chart(data, title, target, note, dash)


def sweeps(amounts, panels, x_title: str) -> alt.VConcatChart:
    """Panels stacked over one x axis ``amounts`` (S,) (ZF Fig. 5): each panel is
    (title, values (B, S) with one line per row, as_percent). A Streamlit (Vega-Lite)
    chart: a fresh browser draws it about a second sooner than a plotly figure."""
    stacked = []
    for k, (title, values, percent) in enumerate(panels):
        rows = np.atleast_2d(np.asarray(values, dtype=np.float64))
        data = pd.DataFrame({"amount": np.tile(np.asarray(amounts, dtype=np.float64), len(rows)),
                             "value": rows.ravel(), "image": np.repeat(np.arange(len(rows)), rows.shape[1])})
        y = (alt.Y("value:Q", title=None, axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1]))
             if percent else alt.Y("value:Q", title=None))
        chart = alt.Chart(data, title=title).mark_line(point=True).encode(
            alt.X("amount:Q", title=x_title if k == len(panels) - 1 else None,
                  scale=alt.Scale(zero=False, nice=False)), y,
            tooltip=[alt.Tooltip("amount:Q", title=x_title), alt.Tooltip("value:Q", format=".3f")])
        if len(rows) > 1:
            chart = chart.encode(color="image:N")
        stacked.append(chart.properties(height=150))
    return alt.vconcat(*stacked)
