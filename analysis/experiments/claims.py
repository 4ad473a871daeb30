"""The papers' claims as data, and a verdict on each from our seeds' interval.

A claim names the experiment that tests it, the paper's effect size in a
unit of our own measurement (a difference of test error in points, a ratio
of epochs, ...), and how to read that effect off one run. Over seeds, the
effect's mean and 95% Student-t interval decide the verdict:

- "holds": the interval excludes no effect and reaches the paper's size;
- "weaker": it excludes no effect, on the paper's side, but stays short of the paper's size;
- "opposite": it excludes no effect on the other side;
- "not significant": it contains no effect (or fewer than two seeds measured it);
- "censored": some seeds only bound the effect (a net never reached the target
  within the epoch cap), and those bounds do not reach the paper's size: more
  epochs would tell. A censored seed's bound enters the interval in place of
  its effect, so the interval bounds the effect from below (on the paper's side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

# Two-sided 95% quantiles of Student's t, t_{0.975, df}, for df = 1..30 (any table).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
VERDICTS = ("holds", "weaker", "opposite", "not significant", "censored")
MEANING = {  # one line each, for the Paper claims page's legend
    "holds": "the 95% interval excludes no effect and reaches the paper's number",
    "weaker": "a real effect in the paper's direction, but the interval stays short of the paper's number",
    "opposite": "a real effect, in the other direction",
    "not significant": "the interval contains no effect (or fewer than two seeds measured it)",
    "censored": "some seeds only give a bound (the target was not reached in the cap) and the bounds "
                "stay short of the paper's number: more epochs would tell",
}


@dataclass(frozen=True)
class Claim:
    """One claim of AK or ZF, as something our runs measure.

    ``effect(result)`` reads the effect off one run (an ExperimentResult), or
    returns None when that run could not measure it (e.g. a net never
    reached the target). ``paper`` is the paper's effect in the same unit;
    ``null`` the value meaning "no effect" (0 for differences, 1 for ratios).
    """

    experiment: str  # the registered experiment whose runs measure it
    source: str  # "AK 3.3", "ZF Table 3"
    statement: str  # the claim in words, as the paper makes it
    paper: float  # the paper's effect, in ``unit``
    unit: str  # "points of test error (with - without)", "x epochs (tanh / ReLU)"
    effect: Callable  # ExperimentResult -> float | None
    null: float = 0.0
    scaled_down: str = ""  # what our CIFAR-scale run changes from the paper's setting
    # ExperimentResult -> float | None: where ``effect`` is None because the run was cut
    # off (e.g. tanh never reached the target in the cap), a value the effect is known
    # to exceed on the paper's side (cap / ReLU's epochs); None: no bound either.
    bound: Callable | None = None


@dataclass(frozen=True)
class Measured:
    """A claim's effect over seeds: mean, 95% interval, seeds, verdict."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    verdict: str
    censored: int = 0  # of the n seeds, how many gave only a bound


def interval(values, confidence_t=None) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of ``values`` (at least two of them)."""
    v = [float(x) for x in values]
    if len(v) < 2:
        raise ValueError(f"an interval needs at least two values, got {len(v)}")
    n = len(v)
    mean = sum(v) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    t = confidence_t if confidence_t is not None else (_T975[n - 2] if n - 1 <= len(_T975) else 1.96)
    half = t * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def verdict(paper: float, null: float, low: float, high: float) -> str:
    """The verdict of an interval [low, high] against the paper's effect and no effect."""
    if low <= null <= high:
        return "not significant"
    same_side = (low > null) == (paper > null)
    if not same_side:
        return "opposite"
    reaches = high >= paper if paper > null else low <= paper
    return "holds" if reaches else "weaker"


def measure(claim: Claim, results) -> Measured:
    """The claim's effect over the given runs (one per seed) and its verdict.

    A run whose effect is None but which gives a bound (``claim.bound``) counts
    with that bound, and the verdict is then "holds" only if even the bounds
    reach the paper's number ("censored" otherwise); a run with neither is left out.
    """
    values, censored = [], 0
    for r in results:
        v = claim.effect(r)
        if v is None and claim.bound is not None:
            v = claim.bound(r)
            censored += v is not None
        if v is not None:
            values.append(float(v))
    if len(values) < 2:
        mean = values[0] if values else None
        return Measured(mean, None, None, len(values), "not significant", censored)
    mean, low, high = interval(values)
    v = verdict(claim.paper, claim.null, low, high)
    if censored and v != "holds":  # the true effects lie beyond the bounds: only "holds" is safe
        v = "censored"
    return Measured(mean, low, high, len(values), v, censored)


def describe(claim: Claim, m: Measured) -> str:
    """One line: mean, 95% interval, seeds (and how many only bound it), verdict."""
    if m.mean is None:
        return f"not measured (no seed gave {claim.unit}); verdict {m.verdict}"
    at_least = "at least " if m.censored else ""
    spread = f", 95% interval {m.low:.3g} to {m.high:.3g}" if m.low is not None else ""
    cut = f", {m.censored} of them only a bound" if m.censored else ""
    paper = f"paper {claim.paper:g}" if claim.paper is not None else "the paper gives a direction only"
    return (f"{at_least}{m.mean:.3g} {claim.unit}{spread} ({m.n} seed{'s' if m.n != 1 else ''}{cut}; "
            f"{paper}): {m.verdict}")


def relative(claim: Claim, m: Measured):
    """(mean, low, high) on a scale where 0 is no effect and 1 the paper's effect, so claims
    in different units share one chart; low and high are None with fewer than two seeds."""
    if m.mean is None or claim.paper is None:  # no size: nothing to scale by
        return None
    span = claim.paper - claim.null

    def scale(x):
        return None if x is None else (x - claim.null) / span

    lo, hi = scale(m.low), scale(m.high)
    if lo is not None and lo > hi:  # a paper effect below null flips the interval's ends
        lo, hi = hi, lo
    return scale(m.mean), lo, hi
