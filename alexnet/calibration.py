"""Probabilities a class can trust: temperature scaling, calibration error, and
an "I am not sure" score with a threshold set on held-out images.

Temperature scaling (Guo et al., 2017) divides the logits by one number T,
fitted on held-out images by minimising the negative log-likelihood; the
ranking of the classes, and so the accuracy, is unchanged. Expected
calibration error (ECE) bins the images by their top probability and
averages |accuracy - confidence| over the bins, weighted by their size.

The unsure score is the calibrated top probability (Hendrycks and Gimpel,
2017), the energy score ``T * logsumexp(logits / T)`` (Liu et al., 2020), or
the cosine similarity of the picture's penultimate features to its k-th
nearest among training images' (Sun et al., 2022: "knn"); higher means more
sure. Its threshold keeps ``keep`` (95%) of held-out
in-distribution images above it: a picture scoring below it looks less like
the ten classes than 95% of real CIFAR-10 pictures do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

SCORES = ("max-probability", "energy", "knn")
KNN_K = 5  # the k of "knn": the 5th nearest reference image


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the mean NLL of softmax(logits / T) on (N, C) logits.

    The NLL is convex in 1/T, so a bracketing search over log T finds the
    minimum; 60 golden-section steps pin it to about 1e-9 relative.
    """
    logits, labels = logits.double(), labels.long()

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), labels))

    lo, hi = math.log(0.02), math.log(50.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and count (the reliability diagram)."""

    edges: list[float]
    confidence: list[float]
    accuracy: list[float]
    count: list[int]

    @property
    def ece(self) -> float:
        n = sum(self.count)
        return sum(c * abs(a - p) for c, a, p in zip(self.count, self.accuracy, self.confidence)) / n

    def to_dict(self) -> dict:
        return {**asdict(self), "ece": self.ece}


def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> Reliability:
    """Bins of equal width over the top probability of (N, C) ``probs``; a
    bin holds confidences in (lo, hi], the first also 0."""
    conf, pred = probs.max(1)
    right = (pred == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    which = torch.bucketize(conf.double(), edges[1:-1], right=False)  # (N,) in 0..bins-1
    c, a, n = [], [], []
    for b in range(bins):
        m = which == b
        k = int(m.sum())
        n.append(k)
        c.append(float(conf.double()[m].mean()) if k else 0.0)
        a.append(float(right[m].mean()) if k else 0.0)
    return Reliability(edges.tolist(), c, a, n)


def knn_scores(features: torch.Tensor, reference: torch.Tensor, k: int = KNN_K) -> torch.Tensor:
    """(N,) cosine similarity of each of the (N, D) ``features`` to its ``k``-th nearest
    among the (M, D) ``reference`` features (both L2-normalised first; higher: surer)."""
    if features.dim() != 2 or reference.dim() != 2 or features.shape[1] != reference.shape[1]:
        raise ValueError(f"features {tuple(features.shape)} and reference {tuple(reference.shape)} "
                         "must be (N, D) and (M, D)")
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must be between 1 and the {len(reference)} reference images, got {k}")
    f = F.normalize(features.double(), dim=1)
    r = F.normalize(reference.double(), dim=1)
    return (f @ r.T).topk(k, dim=1).values[:, -1]


def unsure_scores(logits: torch.Tensor, temperature: float, score: str = "max-probability",
                  features: torch.Tensor | None = None, reference: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """(N,) how sure the net is that each picture is one of its classes (higher: surer).
    "knn" also needs the pictures' penultimate ``features`` and the ``reference`` ones."""
    if score == "max-probability":
        return (logits / temperature).softmax(1).max(1).values
    if score == "energy":
        return temperature * torch.logsumexp(logits / temperature, 1)
    if score == "knn":
        if features is None or reference is None:
            raise ValueError('the "knn" score needs the features and the reference features')
        return knn_scores(features, reference)
    raise ValueError(f"unknown score {score!r}; choose from {', '.join(SCORES)}")


def threshold_keeping(scores: torch.Tensor, keep: float = 0.95) -> float:
    """The score above which ``keep`` of these (in-distribution) scores lie."""
    if not 0 < keep < 1:
        raise ValueError(f"keep must be in (0, 1), got {keep}")
    return float(torch.quantile(scores.double(), 1 - keep))


def auroc(inside: torch.Tensor, outside: torch.Tensor) -> float:
    """P(score of a random inside image > that of a random outside one), ties half."""
    s = torch.cat([inside, outside]).double()
    ranks = torch.empty_like(s)
    order = s.argsort()
    ranks[order] = torch.arange(1, len(s) + 1, dtype=torch.float64)
    for v in s.unique():  # average ranks over ties
        tie = s == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    n1, n0 = len(inside), len(outside)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
