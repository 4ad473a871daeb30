"""Occlusion sensitivity (ZF 4.2, Fig. 7): slide a grey square over the image.

One sweep gives all three of ZF's maps over the occluder's positions:
(b) the total activation of the layer-5 feature map (by default the net's
``last_conv`` role, conv5 after its ReLU in AlexNet) that responds most
strongly to the unoccluded image, (d) the probability of the true class,
(e) the most probable class (from the net's ``logits`` role).

Positions follow captum's ``Occlusion``: the square's top-left corner steps
from 0 by ``stride`` until the image is covered, and a last square that
would cross the edge is cut off there. So ``base_probability - probability``
is exactly the per-window output change captum averages into its pixels.

Speed: the square changes only a few pixels, so in every stage of
``model.features`` only the outputs whose receptive field meets it change.
Each occluded copy carries
just that window ("patch") and borrows the rest from the unoccluded pass;
the convolutions and pools run on the patches alone. This is exact: every
patch output is computed from the same inputs as in a full pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alexnet.lrn import LocalResponseNorm

from ._layers import (activations, check_images, check_layer, feature_layers, per_image, role,
                      run_from, stage_geometry, takes_any_net)

LAST = torch.channels_last
DEFAULT_SIZE = {32: 8, 224: 32}  # occluder side for the two input sizes we ship
DEFAULT_STRIDE = {32: 2, 224: 16}  # 13 x 13 positions for both
# Occluded copies per batch: the whole default 13 x 13 grid at once, so each stage runs once
# per image (about 10% less CPU time than batches of 64 at 224x224: bench/bench_occlusion.py).
DEFAULT_BATCH = 169


@dataclass
class OcclusionResult:
    """ZF Fig. 7 (b), (d), (e) for a batch of B images over P x Q occluder positions."""

    size: int  # side of the grey square, pixels
    stride: int  # step between positions, pixels
    rows: torch.Tensor  # (P,) top edge of the square at each row position
    cols: torch.Tensor  # (Q,) left edge at each column position
    channel: torch.Tensor  # (B,) the map of ``layer`` shown in (b)
    activation: torch.Tensor  # (B, P, Q) total activation of that map, (b)
    target: torch.Tensor  # (B,) the class whose probability is mapped
    probability: torch.Tensor  # (B, P, Q) its probability, (d)
    top_class: torch.Tensor  # (B, P, Q) most probable class, (e)
    base_activation: torch.Tensor  # (B,) the same three on the unoccluded image
    base_probability: torch.Tensor  # (B,)
    base_class: torch.Tensor  # (B,)
    layer: str = ""  # the stage whose map (b) shows

    @property
    def grid(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)


def positions(length: int, size: int, stride: int) -> torch.Tensor:
    """Square starts along one side: 0, stride, ... until the side is covered (captum's rule)."""
    steps = -(-(length - size) // stride) + 1  # ceil((L - size) / stride) + 1
    return torch.arange(steps) * stride


def centres(starts, size: int, length: int) -> list[float]:
    """The pixel coordinate of each square's centre, for squares of ``size`` starting at
    ``starts`` along a side of ``length`` (pixel i covers [i - 0.5, i + 0.5]); a square the
    edge cuts is smaller, so its centre moves in."""
    return [(t + min(t + size, length)) / 2 - 0.5 for t in torch.as_tensor(starts).tolist()]


def _check(images, size, stride, baseline, batch_size) -> None:
    check_images(images)
    h, w = images.shape[-2:]
    if not isinstance(size, int) or not 1 <= size <= min(h, w):
        raise ValueError(f"size must be an integer from 1 to {min(h, w)} (the image side), got {size!r}")
    if not isinstance(stride, int) or not 1 <= stride <= size:
        raise ValueError(f"stride must be an integer from 1 to size={size} so that every pixel "
                         f"is occluded at least once, got {stride!r}")
    if torch.as_tensor(baseline).numel() not in (1, images.shape[1]):
        raise ValueError(f"baseline must be a number or one value per channel "
                         f"({images.shape[1]}), got {baseline!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


@takes_any_net
def occlusion(model: nn.Module, images: torch.Tensor, target=None, size: int | None = None,
              stride: int | None = None, baseline=0.0, channel=None, batch_size: int = DEFAULT_BATCH,
              reuse: bool = True, layer: str | None = None) -> OcclusionResult:
    """Occlusion maps of ZF Fig. 7 for (B, 3, H, W) normalised ``images``.

    ``target``: true class per image (int or (B,)); None: each image's top class.
    ``size``/``stride``: the square and its step; defaults 8/2 for 32x32 input,
    32/16 for 224x224 (13 x 13 positions each), else a seventh of the side and half that.
    ``baseline``: the grey, in normalised units; 0 is the dataset mean.
    ``channel``: the map of ``layer`` for (b), int or (B,); None: each image's strongest
    (largest single activation, the one ZF project in Fig. 7c).
    ``layer``: a spatial stage; None: the net's ``last_conv`` role (ZF's layer 5).
    ``reuse``: recompute only what each square changes (exact); False runs the
    whole net on every copy. The caller sets the model's mode (eval for ZF).
    """
    side = min(images.shape[-2:]) if isinstance(images, torch.Tensor) and images.dim() == 4 else 0
    size = DEFAULT_SIZE.get(side, max(1, side // 7)) if size is None else size
    stride = DEFAULT_STRIDE.get(side, max(1, size // 2)) if stride is None else stride
    _check(images, size, stride, baseline, batch_size)
    layer = check_layer(model, role(model, "last_conv", layer), feature_layers(model))
    logits = role(model, "logits")
    b, c, h, w = images.shape
    rows, cols = positions(h, size, stride), positions(w, size, stride)
    grey = torch.as_tensor(baseline, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    with torch.inference_mode():
        base = activations(model, images, [layer, logits])
        base_prob = base[logits].softmax(1)  # (B, classes)
        tgt = per_image(target, base_prob.argmax(1), base_prob.shape[1], "target")
        strongest = base[layer].flatten(2).amax(2).argmax(1)  # (B,) largest single activation
        ch = per_image(channel, strongest, base[layer].shape[1], "channel")
        corners = torch.cartesian_prod(rows, cols).tolist()  # P*Q (top, left), row-major
        maps, tops = [], []
        for i in range(b):
            # Channels-last: oneDNN's convolutions and pools run several times
            # faster on (N, H, W, C) memory than on (N, C, H, W) on the CPU.
            x, sweep, top = images[i:i + 1].contiguous(memory_format=LAST), [], []
            unoccluded = {}  # each stage's output for the whole image, computed once for all batches
            for j in range(0, len(corners), batch_size):
                boxes = [(t, l, min(t + size, h) - t, min(l + size, w) - l)
                         for t, l in corners[j:j + batch_size]]
                run = _sweep_reuse if reuse else _sweep_full
                act, out = run(model, x, boxes, grey, layer, logits, unoccluded)
                prob = out.softmax(1)
                sweep.append(torch.stack([act[:, int(ch[i])], prob[:, int(tgt[i])]], 1))
                top.append(prob.argmax(1))  # class indices stay integers (exact in any dtype)
            maps.append(torch.cat(sweep).T.reshape(2, len(rows), len(cols)))
            tops.append(torch.cat(top).reshape(len(rows), len(cols)))
        maps = torch.stack(maps, 1)  # (2, B, P, Q)
        idx = torch.arange(b, device=images.device)
        out = OcclusionResult(
            size, stride, rows, cols, ch, maps[0], tgt, maps[1], torch.stack(tops),
            base[layer][idx, ch].sum((1, 2)), base_prob[idx, tgt], base_prob.argmax(1), layer)
    # Plain tensors, not inference tensors, so callers may edit them in place.
    for f in ("channel", "activation", "target", "probability", "top_class",
              "base_activation", "base_probability", "base_class"):
        setattr(out, f, getattr(out, f).clone())
    return out


def _occlude(x: torch.Tensor, boxes, grey: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) -> (N, C, H, W) copies, copy n grey inside boxes[n] = (top, left, h, w)."""
    out = x.repeat(len(boxes), 1, 1, 1).contiguous(memory_format=LAST)
    for n, (t, l, bh, bw) in enumerate(boxes):
        out[n, :, t:t + bh, l:l + bw] = grey
    return out


def _sweep_full(model, x, boxes, grey, layer, logits, unoccluded=None):
    """Every copy through the whole net: (N, channels) total activation of ``layer``, (N, classes) logits."""
    a = activations(model, _occlude(x, boxes, grey), [layer, logits])
    return a[layer].sum((2, 3)), a[logits]


def _geometry(m: nn.Module):
    """(kernel, stride, padding, fill) of a stage that mixes neighbours; None if pointwise."""
    if isinstance(m, nn.Conv2d):
        if m.dilation != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise NotImplementedError
        return (*stage_geometry(m), 0.0)
    if isinstance(m, nn.MaxPool2d):
        if m.dilation not in (1, (1, 1)) or m.ceil_mode:
            raise NotImplementedError
        return (*stage_geometry(m), float("-inf"))
    if isinstance(m, (nn.ReLU, nn.Tanh, nn.LocalResponseNorm, LocalResponseNorm)):
        return None  # each output pixel depends on the same input pixel only
    raise NotImplementedError


def _sweep_reuse(model, x, boxes, grey, layer, logits, unoccluded=None):
    """As ``_sweep_full``, recomputing in each stage only the window the square reaches.

    State per stage: ``base`` (1, C, H, W) unoccluded output, ``patch``
    (N, C, h, w) each copy's outputs inside its window, ``at`` (N, 2) the
    windows' top-left corners; outside its window a copy equals ``base``.
    ``unoccluded``: a dict keeping each stage's ``base`` across the image's batches.
    """
    try:
        stages = [(name, m, _geometry(m)) for name, m in model.features.named_children()]
    except NotImplementedError:  # a stage we cannot localise: run everything
        return _sweep_full(model, x, boxes, grey, layer, logits)
    base = x
    at = [(t, l) for t, l, _, _ in boxes]
    size = (max(b[2] for b in boxes), max(b[3] for b in boxes))
    patch = grey.expand(len(boxes), x.shape[1], *size).clone()
    # Cut-off squares at the edge are smaller: move their window back inside,
    # filling it from the image so the grey covers only the real square.
    if any(b[2:] != size for b in boxes):
        at = [(min(t, x.shape[2] - size[0]), min(l, x.shape[3] - size[1])) for t, l in at]
        patch = _windows(base, None, at, [(0, 0)] * len(at), size, (0, 0), 0.0)
        for n, (t, l, bh, bw) in enumerate(boxes):
            patch[n, :, t - at[n][0]:t - at[n][0] + bh, l - at[n][1]:l - at[n][1] + bw] = grey
    act, memo = None, {} if unoccluded is None else unoccluded
    for name, m, geo in stages:
        out = memo.get(name)
        if out is None:  # (1, C', H', W') the unoccluded output, once for all batches
            out = memo[name] = m(base)
        if geo is None:
            patch = m(patch).contiguous(memory_format=LAST)  # LRN returns (N, C, H, W)
        else:
            (k, s, p, fill), hw = geo, out.shape[2:]
            # Outputs o whose inputs [o*s - p, o*s - p + k) meet [a, a + L):
            # at most (L + k - 2) // s + 1 of them, starting at ceil((a + p - k + 1) / s).
            n_out = [min(hw[d], (size[d] + k[d] - 2) // s[d] + 1) for d in (0, 1)]
            starts = [tuple(min(max(-((k[d] - 1 - p[d] - a[d]) // s[d]), 0), hw[d] - n_out[d])
                            for d in (0, 1)) for a in at]
            n_in = [(n_out[d] - 1) * s[d] + k[d] for d in (0, 1)]
            corners = [(o[0] * s[0] - p[0], o[1] * s[1] - p[1]) for o in starts]
            win = _windows(base, patch, corners, at, n_in, p, fill)  # (N, C, *n_in)
            if isinstance(m, nn.Conv2d):
                patch = F.conv2d(win, m.weight, m.bias, m.stride, 0, 1, m.groups)
            else:
                patch = F.max_pool2d(win, k, s, 0)
            at, size = starts, tuple(n_out)
        base = out
        if name == layer:
            act = _paste(base, patch, at).sum((2, 3))  # (N, C) total activation per map
    # The rest of the net (the classifier, up to the logits) on whole maps.
    return act, run_from(model, stages[-1][0], _paste(base, patch, at))


def _windows(base, patch, corners, at, n_in, pad, fill) -> torch.Tensor:
    """(N, C, *n_in): each copy's map over the window at ``corners`` (may lie in the padding)."""
    padded = F.pad(base[0], (pad[1], pad[1], pad[0], pad[0]), value=fill)  # (C, H+2p, W+2p)
    out = torch.empty((len(corners), base.shape[1], *n_in), dtype=base.dtype, device=base.device,
                      memory_format=LAST)
    for n, (r, c) in enumerate(corners):
        win = out[n]
        win.copy_(padded[:, r + pad[0]:r + pad[0] + n_in[0], c + pad[1]:c + pad[1] + n_in[1]])
        if patch is not None:  # overlay the copy's own outputs where the windows meet
            (t, l), (ph, pw) = at[n], patch.shape[2:]
            r0, r1 = max(r, t), min(r + n_in[0], t + ph)
            c0, c1 = max(c, l), min(c + n_in[1], l + pw)
            if r0 < r1 and c0 < c1:
                win[:, r0 - r:r1 - r, c0 - c:c1 - c] = patch[n, :, r0 - t:r1 - t, c0 - l:c1 - l]
    return out


def _paste(base, patch, at) -> torch.Tensor:
    """(N, C, H, W) full maps: ``base`` with each copy's patch written in."""
    full = base.repeat(len(at), 1, 1, 1).contiguous(memory_format=LAST)
    ph, pw = patch.shape[2:]
    for n, (t, l) in enumerate(at):
        full[n, :, t:t + ph, l:l + pw] = patch[n]
    return full
