"""The play-test: held-out fighters rendered with the project's settings, the real play.py run on them,
and its actions matched to the annotated strikes (the end-to-end run on a trained package:
tests/test_play_package.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from kombat.compose import compose, default_config
from kombat.recordings import Segment, write_video
from kombat.playtest import HELDOUT_ACTOR_BASE, Event, EventScore, match_events, play_events, render_heldout

MODEL_FRAME = (100, 56)  # width, height


def colour_package(folder: Path, window: int = 1) -> Path:
    """A real package (play.py and its files, play.json, labels.json, TFLite models) whose weights are set by
    hand: the embedder gives a frame's mean colour, and the head reads the oldest tick of its window and
    calls a red frame punch, a blue one kick and a dark one other."""
    import keras

    from kombat.export import to_tflite
    from kombat.stages.package import write_package

    image = keras.Input((MODEL_FRAME[1], MODEL_FRAME[0], 3), dtype="uint8")
    mean_rgb = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(image))
    embedder = keras.Model(image, mean_rgb)
    ticks = keras.Input((window, 3))
    classes = keras.layers.Dense(3, activation="softmax")
    head = keras.Model(ticks, classes(keras.layers.Flatten()(ticks)))
    kernel = np.zeros((window * 3, 3), np.float32)
    kernel[0, 0], kernel[2, 1] = 20, 20  # oldest tick: red -> punch, blue -> kick
    classes.set_weights([kernel, np.array([-10, -10, 0], np.float32)])
    cfg = default_config()
    labels = {"classes": ["punch", "kick", "other"], "frame_size": list(MODEL_FRAME), "inputs": ["still"],
              "window": window, "motion_gap": 1, "gains": {}, "run_id": "hand-made"}
    folder.mkdir(parents=True, exist_ok=True)
    write_package(folder, cfg, cfg, {"embedder": (embedder, to_tflite(embedder)), "head": (head, to_tflite(head))},
                  labels)
    return folder


def coloured_frames(colours: list[str], size=(160, 90)) -> list[np.ndarray]:
    rgb = {"dark": (20, 20, 20), "red": (210, 25, 25), "blue": (25, 25, 210)}
    return [np.full((size[1], size[0], 3), rgb[c], np.uint8) for c in colours]


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    return colour_package(tmp_path_factory.mktemp("package") / "package")


def test_the_real_player_fires_at_the_strikes_and_the_play_test_scores_it(package, tmp_path):
    # 4 s at 10 fps: a red stretch (a punch) at 1.0-1.6 s, a blue one (a kick) at 2.5-3.1 s, dark otherwise.
    colours = ["dark"] * 10 + ["red"] * 6 + ["dark"] * 9 + ["blue"] * 6 + ["dark"] * 9
    video = tmp_path / "clip.mp4"
    write_video(video, coloured_frames(colours), 10)
    events = play_events(package, video)
    assert [e.action for e in events] == ["punch", "kick"]  # one action per strike (play.json's cooldown)
    assert 1.0 <= events[0].t < 1.6 and 2.5 <= events[1].t < 3.1
    score = match_events(events, [Segment(1.0, 1.6, "punch"), Segment(1.6, 2.5, "other"),
                                  Segment(2.5, 3.1, "kick")], slack=0.3)
    assert (score.true_positives, score.precision, score.recall) == (2, 1.0, 1.0)
    # The same strikes under the wrong labels score nothing.
    swapped = match_events(events, [Segment(1.0, 1.6, "kick"), Segment(2.5, 3.1, "punch")], slack=0.3)
    assert swapped.true_positives == 0 and swapped.precision == 0.0


def test_a_player_that_fails_is_an_error_naming_the_video(package, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("play.py", "frames.py", "lite.py", "pose.py", "video.py", "play.json"):
        (broken / name).write_bytes((package / name).read_bytes())  # no labels.json
    video = tmp_path / "clip.mp4"
    write_video(video, coloured_frames(["dark"] * 5), 10)
    with pytest.raises(RuntimeError, match=f"play.py failed on {video}: .*labels.json: not found"):
        play_events(broken, video)


def test_scores_add_up_and_an_empty_side_scores_zero():
    assert EventScore(2, 4, 3) + EventScore(1, 1, 2) == EventScore(3, 5, 5)
    assert EventScore(0, 0, 3).precision == 0.0 and EventScore(0, 2, 0).recall == 0.0


def test_the_slack_is_inclusive_and_an_event_takes_the_earliest_free_strike():
    punches = [Segment(1.0, 1.3, "punch"), Segment(1.6, 1.8, "punch")]
    assert match_events([Event(1.6, "punch")], punches[:1], slack=0.3).true_positives == 1  # end + slack
    assert match_events([Event(0.7, "punch")], punches[:1], slack=0.3).true_positives == 1  # start - slack
    assert match_events([Event(1.61, "punch")], punches[:1], slack=0.3).true_positives == 0
    # 1.45 s falls near both punches: taking the earlier leaves the later one for the event at 1.5 s,
    # whatever order the events come in.
    both = match_events([Event(1.5, "punch"), Event(1.45, "punch")], punches, slack=0.3)
    assert (both.true_positives, both.predicted, both.annotated) == (2, 2, 2)


def test_held_out_fighters_are_rendered_with_the_project_s_settings_and_never_trained_on(tmp_path):
    raw = compose(["data=tiny", "data.synth.width=96", "data.synth.height=54"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    synth = raw["data"]["synth"]
    video, segments = render_heldout(tmp_path, 2, 3.0, tmp_path / "params.yaml")
    capture = cv2.VideoCapture(str(video))
    size = (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    assert size == (96, 54) and fps == pytest.approx(synth["fps"]) and frames == 3 * synth["fps"]
    assert video.name == "heldout02.mp4"
    assert {s.label for s in segments} & {"punch", "kick"}  # a strike to play-test
    assert all(0 <= s.start < s.end <= 3.0 for s in segments)
    assert synth["actors"] <= HELDOUT_ACTOR_BASE  # the synth stage numbers its actors from 0: never these
    again = tmp_path / "again"
    again.mkdir()
    video_again, segments_again = render_heldout(again, 2, 3.0, tmp_path / "params.yaml")
    assert segments_again == segments and video_again.read_bytes() == video.read_bytes()
    other_video, _ = render_heldout(again, 3, 3.0, tmp_path / "params.yaml")
    assert other_video.read_bytes() != video.read_bytes()  # another held-out fighter
