"""Pareto plot of a search: the training set's accuracy/latency cloud, the samples, the front."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwdiff.errors import HwdiffError
from hwdiff.search.search import SearchResult
from hwdiff.storage import atomic_path, check_writable_dir


def check_writable(path: Path) -> None:
    """Fail before any work when ``path`` cannot be written."""
    check_writable_dir(path.expanduser().resolve().parent, "--plot path")
    if path.suffix.lower() != ".png":
        raise HwdiffError(f"plot path {path} must end in .png")
    if path.is_dir():
        raise HwdiffError(f"plot path {path} is a directory; give a file name ending in .png")


def pareto_front(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats in both (higher accuracy, lower latency), by latency."""
    order = np.lexsort((-accuracy, latency))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.array(front, dtype=int)


def plot_search(result: SearchResult, path: Path) -> Path:
    """The samples and the top candidates beside what the search knew (``SearchResult.known_points``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    known_accuracy, known_latency = result.known_points()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    lab = ~np.isnan(known_accuracy)
    known_accuracy, known_latency = known_accuracy[lab], known_latency[lab]
    ax.scatter(known_latency, known_accuracy * 100, s=3, c="#c8c8c8", label=f"known ({lab.sum()} labelled)",
               rasterized=True)
    front = pareto_front(known_accuracy, known_latency)
    ax.plot(known_latency[front], known_accuracy[front] * 100, c="#555555", lw=1, label="Pareto front of the known")
    shown = [c for c in result.scored if not np.isnan(c.accuracy)]
    if shown:
        acc = np.array([c.accuracy for c in shown]) * 100
        lat = np.array([c.latency_ms for c in shown])
        ax.scatter(lat, acc, s=8, c="#1f77b4", label=f"samples with accuracy ({len(shown)} unique)")
    if result.candidates:
        ax.scatter([c.latency_ms for c in result.candidates], [c.accuracy * 100 for c in result.candidates],
                   s=40, marker="*", c="#d62728", label=f"top {len(result.candidates)}", zorder=5)
    if result.constraints.latency_ms is not None:
        ax.axvline(result.constraints.latency_ms, c="#d62728", ls="--", lw=1, label="latency budget")
    if result.constraints.accuracy is not None:
        ax.axhline(result.constraints.accuracy * 100, c="#2ca02c", ls="--", lw=1, label="accuracy target")
    ax.set_xscale("log")
    kind = result.latency_kind.label if result.latency_kind else "latency"
    ax.set_xlabel(f"{kind} on {result.device} (ms, log scale)")
    ax.set_ylabel(f"accuracy (%): {result.accuracy_metric}")
    if len(known_accuracy):
        ax.set_ylim(bottom=np.percentile(known_accuracy * 100, 5))
    ax.set_title(f"hwdiff search: {result.space} / {result.dataset} / {result.device}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
