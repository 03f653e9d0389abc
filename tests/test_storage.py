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


def test_npy_rows_write_in_any_order_the_bytes_np_save_writes_and_read_back_slices(tmp_path):
    from kombat.storage import NpyRows

    values = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    rows = NpyRows(tmp_path / "out.npy", "w", shape=values.shape)
    rows.write(6, values[6:])
    rows.write(0, values[:6])
    rows.close()
    np.save(tmp_path / "saved.npy", values)
    assert (tmp_path / "out.npy").read_bytes() == (tmp_path / "saved.npy").read_bytes()
    frames = np.random.default_rng(1).integers(0, 256, (7, 4, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "frames.npy", frames)
    reader = NpyRows(tmp_path / "frames.npy")
    assert len(reader) == 7 and np.array_equal(reader.read(2, 5), frames[2:5])
