"""Whole clips: each frame's label agrees with the move it shows, segments are exactly the labelled runs,
every clip of every actor is fixed by synth.seed, and the contact sheet puts each sample in its cell."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from kombat.compose import default_config
from kombat.synth.clips import contact_sheet, render_actor_clip, segments_from_labels
from kombat.synth.motions import KICKS, PUNCHES

SYNTH = dataclasses.replace(default_config().data.synth, width=64, height=36, fps=10, clip_seconds=2.0,
                            occlusion_rate=0.0)


def frame_labels_of(segments, n: int, fps: int) -> list[str | None]:
    labels: list[str | None] = [None] * n
    for segment in segments:
        for i in range(round(segment.start * fps), round(segment.end * fps)):
            labels[i] = segment.label
    return labels


def test_segments_are_exactly_the_maximal_labelled_runs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        labels = list(rng.choice(np.array(["punch", "kick", "other", None], dtype=object), size=rng.integers(1, 30),
                                 p=[0.2, 0.2, 0.3, 0.3]))
        segments = segments_from_labels(labels, fps=10)
        assert frame_labels_of(segments, len(labels), 10) == labels  # every labelled frame, nothing else
        for a, b in zip(segments, segments[1:]):  # maximal: touching segments have different labels
            assert a.end <= b.start and (a.end < b.start or a.label != b.label)


def test_every_frame_s_label_agrees_with_the_move_it_shows():
    clip = render_actor_clip(SYNTH, "actor01", 0, 0, seconds=4.0)
    assert len(clip.frames) == len(clip.labels) == len(clip.moves) == 40 and clip.fps == 10
    for label, move in zip(clip.labels, clip.moves):
        if label == "punch":
            assert move in PUNCHES
        elif label == "kick":
            assert move in KICKS
        elif label == "other":
            assert move not in PUNCHES + KICKS
        else:  # unlabelled: a strike's wind-up or recovery
            assert move in PUNCHES + KICKS
    assert frame_labels_of(clip.segments, 40, 10) == clip.labels


def test_clips_are_fixed_by_the_seed_and_differ_by_actor_and_clip():
    first = render_actor_clip(SYNTH, "actor01", 0, 0)
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, render_actor_clip(SYNTH, "actor01", 0, 0).frames))
    assert first.frames[0].shape == (36, 64, 3) and first.frames[0].dtype == np.uint8
    for other in (render_actor_clip(SYNTH, "actor01", 0, 1), render_actor_clip(SYNTH, "actor02", 1, 0),
                  render_actor_clip(dataclasses.replace(SYNTH, seed=SYNTH.seed + 1), "actor01", 0, 0)):
        assert not np.array_equal(np.stack(other.frames), np.stack(first.frames))


def test_the_contact_sheet_puts_each_sample_in_its_cell_with_its_caption():
    rng = np.random.default_rng(1)
    samples = [(rng.integers(0, 256, (36, 64, 3), dtype=np.uint8), f"s{i}") for i in range(5)]
    cell = (32, 18)
    sheet = contact_sheet(samples, columns=3, cell=cell)
    assert sheet.shape == (2 * (18 + 16), 3 * 32, 3)  # 5 samples in rows of 3: two rows, each with a caption strip
    for i, (frame, _) in enumerate(samples):
        row, column = divmod(i, 3)
        y, x = row * (18 + 16), column * 32
        assert np.array_equal(sheet[y:y + 18, x:x + 32], cv2.resize(frame, cell, interpolation=cv2.INTER_AREA))
        assert (sheet[y + 18:y + 34, x:x + 32] < 128).any()  # its caption, in black on white
    assert (sheet[34:52, 64:96] == 255).all() and (sheet[52:, 64:96] == 255).all()  # the sixth cell stays empty
