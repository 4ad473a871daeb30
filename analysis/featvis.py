"""Feature visualisation by optimisation: the picture that most excites a unit.

Activation maximisation (Erhan et al. 2009): start from a grey picture with
a little noise and climb the gradient of one unit's activation with respect
to the pixels. Unregularised, this finds high-frequency patterns no camera
would take; Yosinski et al. 2015 (section 3) add three priors, used here:

- jitter: each step sees the picture shifted by a few random pixels, so the
  pattern must work wherever it lands;
- blur: every few steps a small Gaussian blur damps high frequencies;
- decay: each step pulls every pixel a little towards the dataset's mean
  colour (their L2 decay), so only what the unit needs stands out.

The picture lives in pixel space, [0, 1] per colour, and is standardised
with the model's mean/std before each forward pass; it is clipped to
[0, 1] after each step, so what is shown is a picture the net could be fed.
Steps follow the gradient divided by its largest magnitude, so no pixel
moves more than ``lr`` per step, from conv1 (a 5x5 patch) to fc8 (all of it).

Which unit: a channel of a spatial map is read at the map's centre
(Yosinski et al.: one unit, so the picture shows its receptive field), or
its mean over the map (``unit="mean"``: a texture that fills the picture).
For a ReLU stage its input is maximised: the same picture wins (ReLU is
monotone), but the gradient does not vanish while the unit is still off.

Several channels are optimised together as one batch, one picture each. A
picture depends only on its channel and the settings (its own noise, the
jitter sequence shared), so it is cached per unit when ``cache_dir`` is
given, keyed by the weights of the stages up to the layer.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from alexnet.checkpoint import save_atomic
from alexnet.data import CIFAR10_MEAN, CIFAR10_STD

from ._layers import check_channel, check_layer, model_device, stages, takes_any_alexnet

FORMAT = 1  # bump when the cached layout or the algorithm changes


@dataclass(frozen=True)
class Settings:
    """How the picture is optimised (Yosinski et al. 2015, section 3)."""

    steps: int = 128
    lr: float = 0.05  # the largest change of a pixel in one step (of the [0, 1] range)
    jitter: int = 2  # pixels, random shift each step
    blur_every: int = 4  # steps between blurs (0: never)
    blur_sigma: float = 0.5  # pixels
    decay: float = 0.01  # pull towards the mean colour per step
    unit: str = "centre"  # "centre" or "mean" of a spatial map
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.unit not in ("centre", "mean"):
            raise ValueError(f"unit must be 'centre' or 'mean', got {self.unit!r}")
        if self.jitter < 0 or self.blur_every < 0 or self.blur_sigma < 0 or not 0 <= self.decay < 1:
            raise ValueError("jitter, blur_every and blur_sigma must be >= 0 and decay in [0, 1)")


@dataclass
class FeatureVis:
    """One optimised picture per channel."""

    layer: str
    channels: list[int]
    images: torch.Tensor  # (B, 3, S, S) in [0, 1]
    history: torch.Tensor  # (B, steps) the objective at each step (jittered, before a ReLU)
    value: torch.Tensor  # (B,) the unit's activation for the final picture, unshifted
    cached: list[bool]  # per channel: read from the cache


def _gaussian(sigma: float, channels: int, device) -> torch.Tensor:
    r = max(1, math.ceil(2 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return (k / k.sum()).view(1, 1, -1).expand(channels, 1, -1)  # (C, 1, 2r+1)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), reflecting at the borders."""
    if sigma <= 0:
        return x
    k = _gaussian(sigma, x.shape[1], x.device).to(x.dtype)
    r = k.shape[-1] // 2
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.unsqueeze(2), groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.unsqueeze(3), groups=x.shape[1])


def _objective_stage(model, layer: str) -> str:
    """``layer``, or the stage feeding it when ``layer`` is a ReLU (see the module docstring)."""
    named = stages(model)
    names = [n for n, _ in named]
    i = names.index(layer)
    return names[i - 1] if isinstance(named[i][1], nn.ReLU) and i > 0 else layer


def _run_to(model, x, stage):
    for name, m in stages(model):
        x = m(x)
        if name == stage:
            return x
    raise AssertionError("unreachable")


def _objective(a: torch.Tensor, channels: torch.Tensor, unit: str) -> torch.Tensor:
    rows = torch.arange(len(a), device=a.device)
    if a.dim() == 2:  # (B, units)
        return a[rows, channels]
    if unit == "mean":
        return a[rows, channels].mean((1, 2))
    return a[rows, channels, a.shape[2] // 2, a.shape[3] // 2]  # (B,) the centre unit


def _key(model, layer, channel, size, mean, std, settings) -> str:
    h = hashlib.sha256(f"{FORMAT}|{layer}|{channel}|{size}|{tuple(mean)}|{tuple(std)}|"
                       f"{sorted(asdict(settings).items())}".encode())
    for name, m in stages(model):
        h.update(f"{name}:{m!r}".encode())
        for k, v in m.state_dict().items():
            h.update(k.encode() + v.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
        if name == layer:
            break
    return h.hexdigest()


def _name(layer: str, channel: int, key: str) -> str:
    return f"featvis-{layer}-{channel}-{key[:24]}"


def _load(path: Path, key: str):
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        return (d["image"].float(), d["history"].float(), d["value"].float()) if d.get("key") == key else None
    except Exception:  # damaged or foreign: recompute and overwrite, never trust it
        return None


def _optimise(model, layer, channels, size, mean, std, s: Settings, progress):
    device = model_device(model)
    dtype = next(model.parameters()).dtype  # the pictures are in the model's precision
    stage = _objective_stage(model, layer)
    m = torch.tensor(mean, device=device, dtype=dtype).view(1, 3, 1, 1)
    sd = torch.tensor(std, device=device, dtype=dtype).view(1, 3, 1, 1)
    # Each picture's starting noise comes from its own channel, so it does not depend on the batch.
    noise = [torch.randn(3, size, size, generator=torch.Generator().manual_seed(s.seed * 1_000_003 + c))
             for c in channels]
    p = (m + 0.05 * torch.stack(noise).to(device, dtype)).clamp(0, 1)  # (B, 3, S, S)
    shifts = torch.Generator().manual_seed(s.seed)
    want = torch.tensor(channels, device=device)
    history = torch.empty(len(channels), s.steps)
    for step in range(s.steps):
        dy, dx = (torch.randint(-s.jitter, s.jitter + 1, (2,), generator=shifts).tolist()
                  if s.jitter else (0, 0))
        p.requires_grad_(True)
        x = (torch.roll(p, (dy, dx), (2, 3)) - m) / sd
        obj = _objective(_run_to(model, x, stage), want, s.unit)  # (B,)
        (g,) = torch.autograd.grad(obj.sum(), p)
        with torch.no_grad():
            history[:, step] = obj.detach().float().cpu()
            scale = g.abs().amax((1, 2, 3), keepdim=True).clamp(min=1e-12)
            p = p.detach() + s.lr * g / scale
            p = m + (1 - s.decay) * (p - m)
            if s.blur_every and (step + 1) % s.blur_every == 0:
                p = blur(p, s.blur_sigma)
            p = p.clamp(0, 1)
        if progress is not None:
            progress(step + 1, s.steps)
    with torch.no_grad():
        value = _objective(_run_to(model, (p - m) / sd, layer), want, s.unit).float().cpu()
    return p.detach(), history, value


@takes_any_alexnet
def visualise(model, layer: str, channels, *, size: int, mean=CIFAR10_MEAN, std=CIFAR10_STD,
              settings: Settings = Settings(), cache_dir=None, shipped=None, progress=None) -> FeatureVis:
    """The picture (``size`` x ``size``) that most excites each of ``channels`` of ``layer``.

    ``progress(done, total)`` is called after every step. With ``cache_dir``
    each unit's picture is read from / written to
    ``cache_dir/featvis-<layer>-<channel>-<key>.pt``; without it nothing is written.
    ``shipped``: precomputed pictures (``shippable``'s entries), read first; an
    entry is used only if its key (weights, settings) matches, as for the cache.
    The model's mode is the caller's (in training mode dropout acts on fc units).
    """
    check_layer(model, layer)
    channels = [channels] if isinstance(channels, int) else list(channels)
    if not channels:
        raise ValueError("name at least one channel")
    for c in channels:
        check_channel(model, layer, c)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    found, paths = {}, {}
    if cache_dir is not None or shipped:
        for c in set(channels):
            key = _key(model, layer, c, size, mean, std, settings)
            entry = (shipped or {}).get(_name(layer, c, key))
            if entry is not None and entry.get("key") == key:
                found[c] = (entry["image"].float(), entry["history"].float(), entry["value"].float())
            elif cache_dir is not None:
                paths[c] = (Path(cache_dir).expanduser() / f"{_name(layer, c, key)}.pt", key)
                if paths[c][0].is_file() and (hit := _load(*paths[c])) is not None:
                    found[c] = hit
    todo = [c for c in dict.fromkeys(channels) if c not in found]
    if todo:
        images, history, value = _optimise(model, layer, todo, size, mean, std, settings, progress)
        for i, c in enumerate(todo):
            found[c] = (images[i].cpu(), history[i], value[i])
            if c in paths:
                save_atomic({"key": paths[c][1], "image": found[c][0], "history": found[c][1],
                             "value": found[c][2]}, paths[c][0])
    elif progress is not None:
        progress(settings.steps, settings.steps)
    parts = [torch.stack([found[c][i] for c in channels]) for i in range(3)]
    return FeatureVis(layer, channels, *parts, [c not in todo for c in channels])


def shippable(model, layer: str, channels, *, size: int, mean=CIFAR10_MEAN, std=CIFAR10_STD,
              settings: Settings = Settings(), progress=None) -> dict:
    """``visualise``'s pictures as entries to ship with the weights (``visualise(shipped=...)``):
    ``{name: {"key", "image" (float16, 3 x S x S), "history" (float16), "value"}}``. float16
    keeps a [0, 1] picture to within 1/2048, finer than the 8 bits it is shown with; the value
    stays the one measured on the float32 picture."""
    r = visualise(model, layer, channels, size=size, mean=mean, std=std, settings=settings,
                  progress=progress)
    out = {}
    for i, c in enumerate(r.channels):
        key = _key(model, layer, c, size, mean, std, settings)
        out[_name(layer, c, key)] = {"key": key, "image": r.images[i].half(),
                                     "history": r.history[i].half(), "value": r.value[i].float()}
    return out
