"""Tasks: targets, output layers and probabilities come from the task object, never from its name."""

from __future__ import annotations

import numpy as np

from kombat.tasks import LABELS, TASKS, get


def test_three_class_encodes_labels_in_class_order():
    task = get("three_class")
    assert task.classes == LABELS and task.nothing == "other" and task.output_units == 3
    assert task.encode(["kick", "other", "punch"]).tolist() == [1, 2, 0]
    outputs = np.array([[0.2, 0.3, 0.5]])
    assert np.array_equal(task.probabilities(outputs), outputs)


def test_punch_binary_maps_kick_to_no_punch_and_expands_one_sigmoid():
    task = get("punch_binary")
    assert task.encode(np.array(["punch", "kick", "other", "punch"])).tolist() == [1, 0, 0, 1]
    assert task.output_units == 1 and task.activation == "sigmoid" and task.loss == "binary_crossentropy"
    assert np.allclose(task.probabilities(np.array([[0.8], [0.1]])), [[0.2, 0.8], [0.9, 0.1]])
    assert task.nothing == "no_punch" and task.nothing in task.classes


def test_every_task_has_its_nothing_class():
    assert all(task.nothing in task.classes and name == task.name for name, task in TASKS.items())
