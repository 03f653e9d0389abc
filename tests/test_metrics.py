"""Scores beside accuracy: balanced accuracy, macro-F1, per class, and the confusion matrix."""

from __future__ import annotations

import numpy as np

from kombat.metrics import confusion, confusion_png, score


def test_scores_and_confusion():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0])
    s = score(y_true, y_pred, ("punch", "kick", "other"))
    assert s["accuracy"] == 6 / 8
    assert s["recall_punch"] == 0.5 and s["recall_kick"] == 1.0 and s["recall_other"] == 0.75
    assert s["balanced_accuracy"] == (0.5 + 1.0 + 0.75) / 3
    assert confusion(y_true, y_pred, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 3]]


def test_a_class_never_predicted_scores_zero_not_an_error():
    s = score(np.array([0, 1, 2]), np.array([2, 2, 2]), ("punch", "kick", "other"))
    assert s["precision_punch"] == 0 and s["f1_kick"] == 0 and s["recall_other"] == 1


def test_confusion_png_is_a_picture(tmp_path):
    import cv2

    path = tmp_path / "cm.png"
    confusion_png(np.array([[3, 1], [0, 4]]), ("no_punch", "punch"), "title", path)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.std() > 10  # drawn, not blank
