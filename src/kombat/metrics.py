"""Scores of a classifier on a held-out split: accuracy beside class-balanced figures."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def score(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    """accuracy, balanced_accuracy, macro_f1 and per-class precision/recall/F1."""
    labels = list(range(len(classes)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    scores = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(np.mean([r for r, s in zip(recall, support) if s > 0])) if support.any() else 0.0,
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    for name, p, r, f in zip(classes, precision, recall, f1):
        scores[f"precision_{name}"] = float(p)
        scores[f"recall_{name}"] = float(r)
        scores[f"f1_{name}"] = float(f)
    return scores


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts: row = actual class, column = predicted class."""
    return skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def confusion_png(matrix: np.ndarray, classes: tuple[str, ...], title: str, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    peak = matrix.max() or 1
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
