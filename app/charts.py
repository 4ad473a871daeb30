"""Drawing: plotly figures, pictures, HTML and graphviz diagrams built from results, never
computing them. The Vega-Lite charts are in ``app.vega``."""

from __future__ import annotations

from html import escape

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import streamlit as st

from alexnet.predict import Prediction

FONT = dict(size=14)
EARLY_CHART = "plotly_early_chart"  # the key of load_plotly_early's hidden chart


def load_plotly_early() -> None:
    """Have the browser fetch and start plotly's code (4.7 MB) now, while the page computes:
    an empty chart nobody sees, drawn before anything slow. A fresh browser otherwise asks
    for that code only when the first real chart arrives, and the page waits about 1.5 s
    more for it. Call it first on every page whose first result is a plotly chart. (On a
    page that asks for a picture, starting plotly only once the picture is there was no
    faster even for an upload made the instant the uploader showed; for a person, who takes
    seconds to choose a file, plotly is ready by then.)"""
    with st.container(key="plotly_early"):
        st.html("<style>.st-key-plotly_early{display:none}</style>")
        st.plotly_chart(go.Figure(layout=dict(height=20, margin=dict(l=0, r=0, t=0, b=0))),
                        config={"staticPlot": True}, key=EARLY_CHART)


def top5(pred: Prediction, title: str) -> str:
    """The five classes as horizontal bars, most probable on top (AK Fig. 4, left), in plain
    HTML for ``st.html``: the landing page's answer needs no chart library in the browser
    (plotly's code alone takes a fresh browser about 2 s). Each row's tooltip (``title``)
    holds the class and its probability to seven significant digits."""
    rows = "".join(
        f'<div class="top5-row" title="{escape(c)}: {p:.7g}" style="display:flex;align-items:center;'
        f'gap:0.6rem;margin:0.35rem 0"><span style="flex:0 0 11rem;text-align:right;overflow:hidden;'
        f'text-overflow:ellipsis;white-space:nowrap">{escape(c)}</span><span style="flex:1;'
        f'background:#eef1f6;border-radius:3px"><span style="display:block;width:{100 * p:.2f}%;'
        f'min-width:2px;height:1.5rem;background:#4c78a8;border-radius:3px"></span></span>'
        f'<span style="flex:0 0 3.5rem;font-variant-numeric:tabular-nums">{p:.1%}</span></div>'
        for c, p in zip(pred.classes, pred.probs))
    return f'<div class="top5"><p style="font-weight:600;margin-bottom:0.4rem">{escape(title)}</p>{rows}</div>'


def towers_diagram(rows, towers: int) -> str:
    """Graphviz DOT of the conv/fc layers: one column per tower, edges where they talk (AK Fig. 2)."""
    weighted = [r for r in rows if r.kind in ("conv", "fc")]
    lines = ["digraph alexnet {", "rankdir=TB; nodesep=0.4; ranksep=0.35;",
             'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             'input [label="image", fillcolor="#eeeeee"];']
    colours = ("#cfe2f3", "#fce5cd")
    names = {}
    for r in weighted:
        shape = "x".join(str(s) for s in r.shape)
        split = r.towers != "one tower" and r.name != "fc8"
        parts = range(towers) if split else [None]
        names[r.name] = []
        for t in parts:
            node = r.name if t is None else f"{r.name}_{'AB'[t]}"
            if t is None:
                label, colour = f"{r.name}\\n{shape}", "#d9ead3"
            else:
                per = r.shape[0] // towers
                rest = "x".join(str(s) for s in r.shape[1:])
                label = f"{r.name} tower {'AB'[t]}\\n{per}{'x' + rest if rest else ''}"
                colour = colours[t]
            lines.append(f'{node} [label="{label}", fillcolor="{colour}"];')
            names[r.name].append(node)
    prev = ["input"]
    for r in weighted:
        cur = names[r.name]
        talk = "both towers" in r.towers or len(prev) != len(cur)
        for i, c in enumerate(cur):
            sources = prev if talk or len(prev) == 1 else [prev[i]]
            for s in sources:
                crosses = talk and len(prev) > 1 and len(cur) > 1 and prev.index(s) != i
                style = ' [color="#cc0000", penwidth=2]' if crosses else ""
                lines.append(f"{s} -> {c}{style};")
        prev = cur
    lines.append("}")
    return "\n".join(lines)


def as_uint8(image) -> np.ndarray:
    """An (H, W, 3) picture as uint8: floats in [0, 1] scaled by 255 and cut to whole levels,
    as ``st.image`` itself converts them."""
    a = np.asarray(image)
    return a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255).astype(np.uint8)


def picture(image, title: str = "", height: int = 300) -> go.Figure:
    """An (H, W, 3) picture (uint8, or floats in [0, 1]) drawn pixel-sharp and zoomable."""
    a = as_uint8(image)
    fig = go.Figure(go.Image(z=a, hovertemplate="x %{x}, y %{y}<extra></extra>"))
    fig.update_layout(title=title, font=FONT, height=height, margin=dict(l=0, r=0, t=40 if title else 0, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def hwc(t) -> np.ndarray:
    """A (3, H, W) uint8 tensor -> (H, W, 3) array, as stored (no rescaling)."""
    return t.detach().cpu().numpy().transpose(1, 2, 0)


def as_picture(t) -> np.ndarray:
    """(3, H, W) tensor of any range -> (H, W, 3) floats in [0, 1] for st.image (display scaling)."""
    a = t.detach().float().cpu().numpy().transpose(1, 2, 0)
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def receptive_field(projection, box, size: int = 96) -> np.ndarray:
    """A (3, H, W) projection cut to ``box`` (its unit's receptive field), scaled to its own
    range and enlarged pixel-sharp to about ``size`` pixels: act1's 5x5 field is a speck otherwise."""
    crop = projection[:, box.top:box.bottom, box.left:box.right]
    a = as_picture(crop)
    times = max(1, size // max(a.shape[:2]))
    return a.repeat(times, axis=0).repeat(times, axis=1)


def colours(values, scale: str, lo: float, hi: float) -> np.ndarray:
    """Values (...) -> (..., 3) uint8 colours from the plotly colour scale named ``scale``,
    ``lo`` at its start and ``hi`` at its end (clipped beyond)."""
    stops = pc.get_colorscale(scale)
    at = np.array([p for p, _ in stops])
    rgb = np.array(pc.convert_colors_to_same_type([c for _, c in stops], colortype="tuple")[0])
    v = np.asarray(values, dtype=np.float64)
    t = np.clip((v - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(v)
    return np.rint(np.stack([np.interp(t, at, rgb[:, k]) for k in range(3)], -1) * 255).astype(np.uint8)


def cells_over(image, cells, x, y, opacity: float = 0.55, side: int = 448) -> np.ndarray:
    """(P, Q, 3) uint8 cell colours laid over the (H, W, 3) picture they were measured on:
    cell (i, j) is centred at pixel (``y[i]``, ``x[j]``) and every pixel takes the nearest
    cell's colour at ``opacity``. Enlarged by whole pixels to about ``side``, as an image:
    a fresh browser shows it at once, where a plotly heatmap waits for plotly's code."""
    a = np.asarray(image)
    a = a if a.dtype == np.uint8 else np.clip(a, 0, 1) * 255  # blended in floats
    rows = np.abs(np.arange(a.shape[0])[:, None] - np.asarray(y)[None]).argmin(1)
    cols = np.abs(np.arange(a.shape[1])[:, None] - np.asarray(x)[None]).argmin(1)
    blended = (1 - opacity) * a + opacity * np.asarray(cells)[rows][:, cols]
    return pixelated(np.rint(blended).astype(np.uint8), side)


def colour_bar(scale: str, lo: float, hi: float, fmt: str = "{:.3g}") -> str:
    """HTML: the colour scale as a strip from ``lo`` to ``hi``, for a map drawn as an image."""
    at = np.linspace(0, 1, 11)
    strip = ", ".join(f"rgb({r},{g},{b}) {p:.0%}" for (r, g, b), p in zip(colours(at, scale, 0, 1), at))
    return ('<div style="display:flex;align-items:center;gap:8px;font-size:0.85rem">'
            f"<span>{escape(fmt.format(lo))}</span>"
            f'<div style="flex:1;height:12px;background:linear-gradient(to right, {strip})"></div>'
            f"<span>{escape(fmt.format(hi))}</span></div>")


def swatches(named_colours) -> str:
    """HTML: a legend of (name, (r, g, b)) pairs, each a small square and its name."""
    box = "display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle"
    return ('<div style="font-size:0.85rem;line-height:1.8">' + " &nbsp; ".join(
        f'<span style="white-space:nowrap"><span style="{box};background:rgb{tuple(int(v) for v in c)}"></span>{escape(n)}</span>'
        for n, c in named_colours) + "</div>")


def class_colours(k: int) -> np.ndarray:
    """``k`` distinct colours, (k, 3) uint8, for classes drawn side by side."""
    palette = pc.qualitative.Plotly + pc.qualitative.Alphabet
    return np.array([pc.hex_to_rgb(palette[i % len(palette)]) for i in range(k)], dtype=np.uint8)


COLOURS = {"relu": "#1f77b4", "tanh": "#d62728", "lrn": "#2ca02c", "no-lrn": "#ff7f0e"}


def reliability(block: dict, title: str) -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin, the diagonal
    being perfect calibration; bar widths are the bins, hover gives counts."""
    edges, acc, conf, n = block["edges"], block["accuracy"], block["confidence"], block["count"]
    mids = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    keep = [i for i, k in enumerate(n) if k]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[mids[i] for i in keep], y=[acc[i] for i in keep], width=edges[1] - edges[0],
                         name="accuracy", marker_color="#4c78a8",
                         customdata=[[n[i], conf[i]] for i in keep],
                         hovertemplate="accuracy %{y:.1%}<br>mean confidence %{customdata[1]:.1%}"
                                       "<br>%{customdata[0]} images<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(dash="dash", color="grey")))
    fig.update_layout(title=title, font=FONT, height=320, margin=dict(l=10, r=10, t=50, b=40),
                      xaxis=dict(title="confidence (top probability)", range=[0, 1], tickformat=".0%"),
                      yaxis=dict(title="accuracy", range=[0, 1], tickformat=".0%"),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def pixelated(img: np.ndarray, side: int) -> np.ndarray:
    """(S, S, 3) uint8, or floats in [0, 1], enlarged by whole pixels to about ``side`` as
    uint8, so the browser shows the net's pixels as squares instead of smoothing them away."""
    img = as_uint8(img)
    k = max(1, side // img.shape[0])
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def ratio_grid(rows, title: str) -> go.Figure:
    """tanh / ReLU epochs for every (ReLU lr, tanh lr) pair (``relu_tanh.ratio_table``);
    ">" marks a bound (tanh had not reached the target when it stopped), blank: ReLU never did."""
    relu = sorted({r["relu_lr"] for r in rows})
    tanh = sorted({r["tanh_lr"] for r in rows})
    z = [[None] * len(relu) for _ in tanh]
    text = [[""] * len(relu) for _ in tanh]
    for r in rows:
        i, j = tanh.index(r["tanh_lr"]), relu.index(r["relu_lr"])
        if r["ratio"] is not None:
            z[i][j] = r["ratio"]
            text[i][j] = (">" if r["at_least"] else "") + f"{r['ratio']:.2f}x"
        else:
            text[i][j] = "ReLU missed"
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{v:g}" for v in relu], y=[f"{v:g}" for v in tanh], text=text, texttemplate="%{text}",
        colorscale="RdBu", zmid=1.0, colorbar=dict(title="ratio"),
        hovertemplate="ReLU lr %{x}, tanh lr %{y}: %{text}<extra></extra>"))
    fig.update_layout(title=title, font=FONT, height=120 + 60 * len(tanh), margin=dict(l=10, r=10, t=50, b=40),
                      xaxis=dict(title="ReLU lr", type="category"), yaxis=dict(title="tanh lr", type="category"))
    return fig


VERDICT_COLOURS = {"holds": "#2ca02c", "weaker": "#e6a700", "opposite": "#d62728",
                   "not significant": "#7f7f7f", "censored": "#1f77b4"}


def claims_forest(rows, title: str) -> go.Figure:
    """Our 95% interval per claim against the paper's number, on a common scale:
    0 is no effect, 1 the paper's effect (``claims.relative``). ``rows``: (label, verdict,
    (mean, low, high) or None, censored). A censored row's interval bounds it from below."""
    fig = go.Figure()
    for label, verdict, rel, censored in rows:
        if rel is None:
            continue
        mean, low, high = rel
        fig.add_trace(go.Scatter(
            x=[mean], y=[label], mode="markers", name=verdict, legendgroup=verdict,
            showlegend=verdict not in {t.name for t in fig.data},
            marker=dict(color=VERDICT_COLOURS.get(verdict), size=12,
                        symbol="triangle-right" if censored else "circle"),
            error_x=None if low is None else dict(type="data", symmetric=False, array=[high - mean],
                                                  arrayminus=[mean - low]),
            hovertemplate=f"{label}: %{{x:.2f}} of the paper's effect" + (" (at least)" if censored else "")
                          + "<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="grey"), annotation_text="no effect")
    fig.add_vline(x=1, line=dict(color="black", dash="dash"), annotation_text="the paper")
    fig.update_layout(title=title, font=FONT, height=160 + 50 * max(1, len(fig.data)),
                      margin=dict(l=10, r=10, t=50, b=40), xaxis_title="our effect as a share of the paper's",
                      yaxis=dict(autorange="reversed"))
    return fig


def ratio_by_scale(by_scale: dict, title: str) -> go.Figure:
    """tanh / ReLU epochs against the input scale (relu_tanh_saturation's summary:
    ``{scale: stats over seeds + interval, censored, saturated}``); each seed a dot, a
    triangle where only a bound; the mean and its 95% interval as a line and band."""
    fig = go.Figure()
    scales = sorted(by_scale, key=float)
    for x in scales:
        s = by_scale[x]
        vals = [v for v in s["per_seed"] if v is not None]
        sat = (f", {s['saturated']:.{1 if s['saturated'] < 0.1 else 0}%} of conv1's tanh units saturated"
               if s.get("saturated") is not None else "")
        fig.add_trace(go.Scatter(
            x=[float(x)] * len(vals), y=vals, mode="markers", showlegend=False,
            marker=dict(color=COLOURS["tanh"], size=10, symbol="triangle-up" if s.get("censored") else "circle"),
            hovertemplate=f"inputs x{x}{sat}: ratio %{{y:.2f}}" + (" (some seeds: at least)" if s.get("censored") else "")
                          + "<extra></extra>"))
    means = [(float(x), by_scale[x]) for x in scales if by_scale[x].get("n")]
    if means:
        fig.add_trace(go.Scatter(x=[m[0] for m in means], y=[m[1]["mean"] for m in means], mode="lines",
                                 name="mean over seeds", line=dict(color=COLOURS["tanh"])))
    band = [(x, s["low"], s["high"]) for x, s in means if s.get("low") is not None]
    if band:
        fig.add_trace(go.Scatter(x=[b[0] for b in band] + [b[0] for b in band[::-1]],
                                 y=[b[2] for b in band] + [b[1] for b in band[::-1]], fill="toself",
                                 fillcolor="rgba(214, 39, 40, 0.15)", line=dict(width=0), hoverinfo="skip",
                                 name="95% interval"))
    fig.add_hline(y=6, line=dict(color="black", dash="dash"), annotation_text="the paper: 6x")
    fig.add_hline(y=1, line=dict(color="grey"), annotation_text="no difference")
    fig.update_layout(title=title, font=FONT, height=340, margin=dict(l=10, r=10, t=50, b=40),
                      xaxis=dict(title="input scale (the paper's centred pixels times this; 1: the paper's)",
                                 type="log"),
                      yaxis_title="tanh / ReLU epochs to the target")
    return fig
