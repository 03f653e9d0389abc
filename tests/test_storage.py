"""Dataset folders and embeddings on disk: written atomically, read back, inputs side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kombat.errors import DataError
from kombat.storage import (
    Dataset,
    atomic_dir,
    read_dataset,
    read_embeddings,
    write_dataset,
)


def test_a_dataset_folder_round_trips(tmp_path):
    images = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    manifest = pd.DataFrame({"source": ["a", "a"], "actor": ["x", "x"], "label": ["", "punch"], "tick": [0, 1]})
    with atomic_dir(tmp_path / "set") as tmp:
        write_dataset(tmp, Dataset(images, manifest))
    back = read_dataset(tmp_path / "set")
    assert np.array_equal(back.images, images) and back.manifest["label"].tolist() == ["", "punch"]


def test_a_failed_write_keeps_the_earlier_folder(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "old.txt").write_text("good")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "set") as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in (tmp_path / "set").iterdir()] == ["old.txt"]


def test_embeddings_of_two_inputs_come_side_by_side(tmp_path):
    pd.DataFrame({"source": ["a"] * 3}).to_csv(tmp_path / "manifest.csv", index=False)
    for kind, value in (("still", 1.0), ("motion", 2.0)):
        (tmp_path / kind).mkdir()
        np.save(tmp_path / kind / "layer.npy", np.full((3, 4), value, np.float32))
    both, manifest = read_embeddings(tmp_path, ("still", "motion"), "layer")
    assert both.shape == (3, 8) and (both[:, :4] == 1).all() and (both[:, 4:] == 2).all() and len(manifest) == 3
    with pytest.raises(DataError, match="no motion embeddings for layer 'other'"):
        read_embeddings(tmp_path, ("motion",), "other")
