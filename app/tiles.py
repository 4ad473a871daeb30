"""Drawing many small pictures as one: a mosaic of feature maps, a row of method results."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .charts import FONT, colours, pixelated


def mosaic(maps: np.ndarray, order, cols: int | None = None, gap: int = 1):
    """Maps (C, h, w) laid out in ``order``, row by row, with ``gap`` empty pixels between.

    Returns (values, channel under each pixel), both (rows * (h + gap), cols * (w + gap));
    gaps hold NaN and -1.
    """
    order = list(order)
    _, h, w = maps.shape
    cols = cols or math.ceil(math.sqrt(len(order)))
    rows = math.ceil(len(order) / cols)
    z = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    ids = np.full(z.shape, -1, dtype=np.int32)
    for i, c in enumerate(order):
        r, q = divmod(i, cols)
        y, x = r * (h + gap), q * (w + gap)
        z[y:y + h, x:x + w] = maps[c]
        ids[y:y + h, x:x + w] = c
    return z, ids


def mosaic_figure(maps: np.ndarray, order, title: str, zmax: float, cols: int | None = None) -> go.Figure:
    """The maps on one shared scale (0 to ``zmax``), so weak maps look dark; hover names the map."""
    z, ids = mosaic(maps, order, cols)
    fig = go.Figure(go.Heatmap(z=z, customdata=ids, colorscale="Gray", zmin=0, zmax=zmax,
                               showscale=False, hoverongaps=False,
                               hovertemplate="map %{customdata}: %{z:.2f}<extra></extra>"))
    fig.update_layout(title=title, font=FONT, height=420, margin=dict(l=0, r=0, t=40, b=0),
                      yaxis=dict(autorange="reversed", scaleanchor="x", visible=False),
                      xaxis=dict(constrain="domain", visible=False), plot_bgcolor="#ffffff")
    return fig


def heat_picture(heat: np.ndarray, side: int = 224) -> np.ndarray:
    """A (H, W) non-negative map as an (S, S, 3) uint8 picture: 0 black, its maximum pale
    yellow (plotly's Inferno scale), enlarged by whole pixels to about ``side`` like
    ``charts.pixelated``. Drawn as a picture, not a chart: a page of them loads no chart code."""
    h = np.asarray(heat, dtype=np.float32)
    top = float(h.max()) if h.size else 0.0
    return pixelated(colours(h, "Inferno", 0.0, top), side)  # zmin 0, as the chart had
