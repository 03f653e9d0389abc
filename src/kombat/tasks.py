"""What a model predicts: the labels recordings carry, and each task's classes built from them.

A task is chosen by name (`task.name`); everything that depends on it (targets, the output layer,
probabilities, the class play treats as "do nothing") asks the task object, never the name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LABELS = ("punch", "kick", "other")  # what an annotation or a class folder may say


@dataclass(frozen=True)
class Task:
    name: str
    classes: tuple[str, ...]  # the model's outputs, in order
    nothing: str  # the class that means "do nothing" in play
    sigmoid: bool  # one sigmoid unit for the last class instead of a softmax over all

    def encode(self, labels) -> np.ndarray:
        """Manifest labels -> class indices."""
        labels = np.asarray(labels)
        if self.sigmoid:
            return (labels == self.classes[1]).astype(np.int64)
        lookup = {label: i for i, label in enumerate(self.classes)}
        return np.array([lookup[label] for label in labels], dtype=np.int64)

    @property
    def output_units(self) -> int:
        return 1 if self.sigmoid else len(self.classes)

    @property
    def activation(self) -> str:
        return "sigmoid" if self.sigmoid else "softmax"

    @property
    def loss(self) -> str:
        # categorical cross-entropy on class indices (the article put a sigmoid loss on a softmax, a bug)
        return "binary_crossentropy" if self.sigmoid else "sparse_categorical_crossentropy"

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """The output layer's values -> (N, len(classes)) probabilities in class order."""
        outputs = np.asarray(outputs, dtype=np.float64)
        return np.column_stack([1 - outputs[:, 0], outputs[:, 0]]) if self.sigmoid else outputs

    def probabilities_tensor(self, outputs):
        """The same inside a Keras model (the play model outputs every class)."""
        from keras import ops

        return ops.concatenate([1.0 - outputs, outputs], axis=-1) if self.sigmoid else outputs


TASKS = {
    "three_class": Task("three_class", LABELS, nothing="other", sigmoid=False),  # punch / kick / other
    "punch_binary": Task("punch_binary", ("no_punch", "punch"), nothing="no_punch", sigmoid=True),
}


def get(name: str) -> Task:
    return TASKS[name]
