"""play.py's decision rule, cooldown and settings reader, and the play-test's event matching."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from kombat.compose import default_config
from kombat.play import PlayError, Rule, Trigger, check_embedder, decide, read_settings
from kombat.playtest import Event, match_events
from kombat.recordings import Segment
from kombat.schema import to_dict

# conf/'s play section, as the package writes it into play.json: the article's thresholds.
SETTINGS = {"nothing_class": "other", **to_dict(default_config())["play"]}
RULE = Rule.from_settings(["punch", "kick", "other"], SETTINGS)


@pytest.mark.parametrize("probabilities, expected", [
    ([0.1, 0.1, 0.8], None),  # clearly nothing
    ([0.3, 0.3, 0.4], None),  # other exactly at 0.4: nothing
    ([0.5, 0.2, 0.3], "punch"),
    ([0.2, 0.45, 0.35], "kick"),
    ([0.34, 0.30, 0.36], None),  # no strike reaches 0.35
    ([0.36, 0.36, 0.28], None),  # a tie between the strikes: no action
    ([0.35, 0.30, 0.35], "punch"),  # the thresholds are inclusive
])
def test_decide_follows_the_articles_rule(probabilities, expected):
    assert decide(np.array(probabilities), RULE) == expected


def test_decide_with_a_binary_model():
    rule = Rule.from_settings(["no_punch", "punch"], {**SETTINGS, "nothing_class": "no_punch"})
    assert decide(np.array([0.3, 0.7]), rule) == "punch"
    assert decide(np.array([0.6, 0.4]), rule) is None


def test_one_strike_fires_one_action():
    trigger = Trigger(cooldown_s=0.5)
    # A punch held for 0.4 s, a flicker inside it, then a kick right after and one later.
    timeline = [(0.0, None), (0.1, "punch"), (0.2, "punch"), (0.3, None), (0.4, "punch"), (0.5, "kick"),
                (0.7, None), (0.8, "kick"), (0.9, "kick")]
    fired = [(t, a) for t, d in timeline if (a := trigger.step(t, d))]
    assert fired == [(0.1, "punch"), (0.8, "kick")]


def test_no_cooldown_fires_on_every_new_strike():
    trigger = Trigger(cooldown_s=0.0)
    fired = [trigger.step(t, d) for t, d in [(0, "punch"), (0.1, "punch"), (0.2, None), (0.3, "punch")]]
    assert fired == ["punch", None, None, "punch"]


def test_settings_are_read_as_the_package_writes_them(tmp_path):
    from kombat.stages.package import write_package

    cfg = default_config(["play.cooldown_s=0.8", "play.smoothing=3", "play.keys.kick=k"])
    run_cfg = default_config(["task=punch_binary"])  # the champion's own task names the "nothing" class
    write_package(tmp_path, cfg, run_cfg, {}, {"classes": list(run_cfg.classes)})
    settings = read_settings(tmp_path / "play.json")
    rule = Rule.from_settings(list(run_cfg.classes), settings)
    assert (rule.nothing, rule.cooldown_s, rule.smoothing) == ("no_punch", 0.8, 3)
    assert (rule.nothing_threshold, rule.strike_threshold) == (cfg.play.nothing_threshold, cfg.play.strike_threshold)
    assert settings["interval_s"] == cfg.play.interval_s and settings["keys"] == {"punch": "a", "kick": "k"}
    assert decide(np.array([0.2, 0.8]), rule) == "punch" and decide(np.array([0.7, 0.3]), rule) is None


def test_missing_or_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(PlayError, match="play.json: not found"):
        read_settings(tmp_path / "play.json")
    (tmp_path / "play.json").write_text('{"keys": [unclosed\n')
    with pytest.raises(PlayError, match="not valid JSON"):
        read_settings(tmp_path / "play.json")
    (tmp_path / "play.json").write_text("[1, 2]")
    with pytest.raises(PlayError, match="expected a JSON object"):
        read_settings(tmp_path / "play.json")


def test_an_interval_that_never_ticks_is_a_one_line_error(tmp_path):
    """0 or less between decisions would spin the loop forever; from play.json or --interval alike."""
    from kombat.play import read_player
    from kombat.stages.package import write_package

    cfg = default_config()
    write_package(tmp_path, cfg, cfg, {}, {"classes": list(cfg.classes), "frame_size": [100, 56], "inputs": ["motion"],
                                          "window": 8, "motion_gap": 1, "gains": {}})
    assert read_player(tmp_path, None).interval == cfg.play.interval_s
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(PlayError, match=r"^--interval is .*: seconds between decisions must be a number above 0"):
            read_player(tmp_path, bad)
    settings = json.loads((tmp_path / "play.json").read_text())
    (tmp_path / "play.json").write_text(json.dumps({**settings, "interval_s": 0}))
    with pytest.raises(PlayError, match=r"play.json: interval_s is 0: seconds between decisions"):
        read_player(tmp_path, None)


def test_show_with_no_display_is_one_line_not_a_qt_abort(tmp_path, monkeypatch):
    from kombat import play

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(play.sys, "platform", "linux")
    with pytest.raises(PlayError, match=r"^--show: no display to open its window on \(DISPLAY is not set\)"):
        play.play(play.parse_args(["--show", "--source", str(tmp_path / "clip.mp4"), "--package", str(tmp_path)]))
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")  # X11 named: still a display needed
    with pytest.raises(PlayError, match="^--show: no display"):
        play.play(play.parse_args(["--show", "--source", str(tmp_path / "clip.mp4"), "--package", str(tmp_path)]))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # a platform that needs no display: on to the package
    with pytest.raises(PlayError, match="play.json: not found"):
        play.play(play.parse_args(["--show", "--source", str(tmp_path / "clip.mp4"), "--package", str(tmp_path)]))


def test_events_match_segments_of_their_label_once():
    segments = [Segment(1.0, 1.3, "punch"), Segment(2.0, 2.4, "kick"), Segment(3.0, 4.0, "other"),
                Segment(5.0, 5.2, "punch")]
    events = [Event(1.1, "punch"), Event(1.2, "punch"),  # the second hits an already matched segment
              Event(2.6, "kick"),  # within the slack after the kick
              Event(5.1, "kick"),  # wrong label
              Event(3.5, "punch")]  # during "other"
    score = match_events(events, segments, slack=0.3)
    assert (score.true_positives, score.predicted, score.annotated) == (2, 5, 3)
    assert score.precision == pytest.approx(0.4) and score.recall == pytest.approx(2 / 3)


def test_the_embedder_is_checked_against_the_embeddings_the_head_learned_from(tmp_path):
    """play.py embeds the package's check images and compares with the embed stage's embeddings of them:
    a runtime whose numbers differ beyond the tolerance (relative to the largest value) is refused."""
    images = np.random.default_rng(0).integers(0, 256, (4, 6, 8, 3), dtype=np.uint8)

    def embed(image):  # a stand-in embedder: a few pooled values of the image
        return image.reshape(-1, 3).mean(axis=0).astype(np.float32) * np.float32(0.5)

    expected = np.stack([embed(image) for image in images])
    path = tmp_path / "embedder_check.npz"
    np.savez(path, images=images, embeddings=expected)
    assert check_embedder(path, embed, 1e-4) == 0.0
    nudged = expected.copy()
    nudged[2, 1] += expected.max() * 3e-5  # within 1e-4 of the largest value: float32 kernels differ so
    np.savez(path, images=images, embeddings=nudged)
    assert 2e-5 < check_embedder(path, embed, 1e-4) < 4e-5
    nudged[2, 1] += expected.max() * 2e-4
    np.savez(path, images=images, embeddings=nudged)
    with pytest.raises(PlayError, match=r"embedder_check.npz: here the embedder gives .* 2.3e-04 .*allowed: 0.0001"):
        check_embedder(path, embed, 1e-4)
    np.savez(path, images=images, embeddings=expected[:, :2])
    with pytest.raises(PlayError, match=r"gives embeddings of shape \(4, 3\), the check holds \(4, 2\)"):
        check_embedder(path, embed, 1e-4)
    np.savez(path, images=images, embeddings=expected[:3])
    with pytest.raises(PlayError, match="4 images but 3 embeddings"):
        check_embedder(path, embed, 1e-4)
    np.savez(path, images=images.astype(np.float32), embeddings=expected)
    with pytest.raises(PlayError, match=r"expected uint8 images \(N, H, W, 3\) .* found float32 \(4, 6, 8, 3\)"):
        check_embedder(path, embed, 1e-4)

    def fixed_size_embed(image):  # as LiteRT says of an input of another shape
        if image.shape != (5, 8, 3):
            raise ValueError("Cannot set tensor: Dimension mismatch. Got 6 but expected 5 for dimension 1 of input 0.")
        return embed(image)

    np.savez(path, images=images, embeddings=expected)
    with pytest.raises(PlayError, match=r"images of shape \(6, 8, 3\) do not fit the embedder: Cannot set tensor"):
        check_embedder(path, fixed_size_embed, 1e-4)
    path.write_bytes(path.read_bytes()[:200])  # cut off
    with pytest.raises(PlayError, match="not a check file"):
        check_embedder(path, embed, 1e-4)
    path.write_bytes(b"not numpy")
    with pytest.raises(PlayError, match="not a check file"):
        check_embedder(path, embed, 1e-4)
    path.unlink()
    with pytest.raises(PlayError, match="embedder_check.npz: not found"):
        check_embedder(path, embed, 1e-4)


def test_the_window_shows_probability_bars_in_proportion():
    from kombat.play import draw

    frame = np.zeros((120, 200, 3), np.uint8)
    canvas = draw(frame, ["punch", "kick", "other"], np.array([1.0, 0.5, 0.0]), "punch", 10.0)
    bar_colour = np.all(canvas == (0, 200, 255), axis=-1)
    widths = [int(bar_colour[y].sum()) for y in (23, 45, 67)]  # a row through each bar, below its caption
    assert widths[0] > 140 and 70 <= widths[1] <= 80 and widths[2] <= 1
    assert not np.array_equal(canvas, frame) and not frame.any()  # drawn on a copy


def test_smoothing_averages_the_last_decisions_so_one_odd_frame_does_not_fire():
    from kombat.play import Smoother

    smooth, rule = Smoother(3), Rule.from_settings(["punch", "kick", "other"], {**SETTINGS, "smoothing": 3})
    calm, odd = np.array([0.1, 0.1, 0.8]), np.array([0.8, 0.1, 0.1])
    decisions = [decide(smooth(p), rule) for p in (calm, calm, odd, calm, odd, odd)]
    assert decisions == [None, None, None, None, "punch", "punch"]  # a lone odd frame: no; two in three: yes
    assert np.allclose(Smoother(1)(odd), odd)


def test_the_pose_input_is_found_on_the_full_camera_frame(tmp_path):
    """TickModel's pose input: BlazePose on the full-size frame (a 320x180 rendered fighter), its landmarks in
    the model frame's pixels, as extract stores them; a head that returns its window shows what it got."""
    import cv2

    from kombat import pose, pose_models
    from kombat.play import TickModel, load_model
    from kombat.synth.body import make_actor
    from kombat.synth.clips import render_clip
    from tests.conftest import ROOT

    models = ROOT / ".cache" / "pose"
    if pose_models.missing_models(models):
        pytest.skip("BlazePose models not fetched (make setup)")
    clip = render_clip(make_actor("play", seed=7001), seed=101, seconds=1.0, fps=10, size=(320, 180),
                       hard_negative_rate=0.5, occlusion_rate=0.0, noise=1.0)
    model = TickModel(None, lambda window: window, ["pose"], window=2, motion_gap=1, gains={},
                      find_pose=pose.FramePose(models, 1, (100, 56)))
    reference, found = pose.FramePose(models, 1, (100, 56)), 0
    for frame in clip.frames:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        window = model(cv2.cvtColor(cv2.resize(bgr, (100, 56), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB), bgr)
        assert window.shape == (2, pose.FEATURES_PER_PERSON)
        assert np.array_equal(window[-1], pose.pose_features(reference(bgr)))
        found += bool(window[-1].any())
    assert found >= len(clip.frames) // 2, found  # the fighter is found on most ticks
    labels = {"inputs": ["pose"], "window": 1, "motion_gap": 1, "gains": {}, "frame_size": [100, 56], "pose_people": 1}
    (tmp_path / "embedder.tflite").write_bytes(b"")
    (tmp_path / "head.tflite").write_bytes(b"")
    with pytest.raises(PlayError, match="pose_detection.tflite: BlazePose detector model not found"):
        load_model(tmp_path, "tflite", labels)


# ---- ticks on a camera slower than them, a new game, and the tick the model learned ---------------------------


class FrameIds:
    """A predict for Decider that records which frame each tick decided on (the id is the frame's pixel value)
    and answers "punch" on odd frames, "other" on even ones."""

    window = 8

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.resets = 0

    def __call__(self, model_frame: np.ndarray, frame_bgr: np.ndarray) -> np.ndarray:
        self.seen.append(int(frame_bgr[0, 0, 0]))
        return np.array([0.9, 0.05, 0.05]) if self.seen[-1] % 2 else np.array([0.05, 0.05, 0.9])

    def reset(self) -> None:
        self.resets += 1


def frame(number: int) -> np.ndarray:
    return np.full((56, 100, 3), number, np.uint8)


def play_camera(decider, ticker, times: list[float]) -> None:
    """What play.py's loop does with a camera's frames, here arriving at `times`."""
    for number, t in enumerate(times):
        if due := ticker.due(t):
            decider(t, frame(number), held_ticks=due - 1)


@pytest.mark.parametrize("fps", [5.0, 7.5, 4.0])
def test_a_camera_slower_than_the_ticks_is_decided_at_every_tick_as_training_saw_it(fps):
    """Frames slower than the 10 a second ticks: training gives each tick the frame shown then, repeating a held
    one (video.at_ticks); play decides every tick too, the missed ones on the frame held, not one tick a frame."""
    from kombat.play import Decider, Ticker
    from kombat.video import at_ticks

    times = [i / fps for i in range(int(3 * fps))]
    predict = FrameIds()
    decider = Decider(predict, RULE, (100, 56), 0.1)
    play_camera(decider, Ticker(0.1), times)
    trained = [number for _, _, number in at_ticks([(t, i) for i, t in enumerate(times)], 0.1)]
    decided = predict.seen
    assert len(decided) == sum(1 for k in range(len(trained)) if k * 0.1 <= times[-1] + 1e-6)  # every tick, once
    # each tick decided on the frame training gave it, or on the one after it when that frame came between
    # the tick and the next (play decides a new frame at once rather than a tick later)
    assert all(shown <= played <= shown + 1 for played, shown in zip(decided, trained))
    if fps == 5.0:  # frames on the ticks: exactly training's
        assert decided == trained[:len(decided)] and decided[:6] == [0, 0, 1, 1, 2, 2]
    stats = decider.stats
    assert stats.decisions == len(decided) and stats.held == len(decided) - len(times) > 0 and not stats.skipped


def test_a_camera_as_fast_as_the_ticks_holds_nothing():
    from kombat.play import Decider, Ticker

    predict = FrameIds()
    decider = Decider(predict, RULE, (100, 56), 0.1)
    play_camera(decider, Ticker(0.1), [i / 30 for i in range(90)])  # 30 fps: every third frame is a tick
    assert predict.seen == list(range(0, 90, 3)) and decider.stats.held == 0


def test_a_stalled_camera_is_caught_up_for_a_window_and_the_rest_counted():
    from kombat.play import Decider, Ticker

    predict = FrameIds()
    decider = Decider(predict, RULE, (100, 56), 0.1)
    play_camera(decider, Ticker(0.1), [0.0, 0.1, 2.05])  # no frame for ticks 0.2 to 1.9 s (18), then one for 2.0
    assert predict.seen == [0, 1] + [1] * FrameIds.window + [2]
    assert (decider.stats.held, decider.stats.skipped) == (FrameIds.window, 18 - FrameIds.window)
    assert "8 on a frame held" in decider.stats.summary(2.1) and "10 ticks with no frame skipped" in decider.stats.summary(2.1)


def test_a_computer_slower_than_the_ticks_is_not_put_further_behind():
    """Ticks missed because the last decision took longer than a tick are skipped, not decided on the frame
    held: deciding them would make the next frame later still."""
    from kombat.play import Decider, Ticker

    class Slow(FrameIds):
        def __call__(self, model_frame, frame_bgr):
            time.sleep(0.12)  # more than a tick (0.1 s)
            return super().__call__(model_frame, frame_bgr)

    predict = Slow()
    decider = Decider(predict, RULE, (100, 56), 0.1)
    play_camera(decider, Ticker(0.1), [0.0, 0.25, 0.5])  # each frame 2 ticks after the last: the computer's delay
    assert predict.seen == [0, 1, 2] and (decider.stats.held, decider.stats.skipped) == (0, 3)


def test_one_action_a_frame_and_it_is_the_one_counted():
    """A held tick can fire (its smoothing sees the frame twice): that is the frame's action, counted once."""
    from kombat.play import Decider

    rule = Rule.from_settings(["punch", "kick", "other"], {**SETTINGS, "cooldown_s": 0.0, "smoothing": 2})
    predict = FrameIds()
    decider = Decider(predict, rule, (100, 56), 0.1)
    assert decider(0.0, frame(2))[2] is None  # even: other
    assert decider(0.1, frame(3))[2] is None  # odd, but the mean with the last is still "other" >= 0.4
    assert decider(0.3, frame(4), held_ticks=1)[2] == "punch"  # frame 3 held at 0.2 s: punch twice in a row
    assert decider.stats.actions == {"punch": 1} and predict.seen == [2, 3, 3, 4]


def test_a_new_game_forgets_the_last_ones_cooldown_smoothing_and_frames():
    """A reloaded game page starts its clock at 0: the cooldown of a strike at 9 s must not silence it."""
    from kombat.play import Decider

    predict = FrameIds()
    rule = Rule.from_settings(["punch", "kick", "other"], {**SETTINGS, "cooldown_s": 0.5, "smoothing": 1})
    decider = Decider(predict, rule, (100, 56), 0.1)
    assert decider(9.0, frame(1))[2] == "punch"
    decider.reset()
    assert predict.resets == 2  # once when made, once now
    assert decider(0.0, frame(0))[2] is None and decider(0.1, frame(1))[2] == "punch"
    stale = Decider(predict, rule, (100, 56), 0.1)
    stale(9.0, frame(1))
    assert stale(0.0, frame(0))[2] is None and stale(0.1, frame(1))[2] is None  # without it: silent for 9 s


def test_the_tick_model_starts_a_new_game_with_empty_buffers():
    from kombat.play import TickModel

    model = TickModel(lambda image: image.mean(axis=(0, 1))[:1], lambda window: window, ["motion"], window=3,
                      motion_gap=1, gains={})
    first, second = np.zeros((56, 100, 3), np.uint8), np.full((56, 100, 3), 200, np.uint8)
    model(first)
    moved = model(second)
    model.reset()
    fresh = model(second)
    assert moved[-1, 0] > 0 and fresh[-1, 0] == 0  # no motion against the last game's frame
    assert np.array_equal(fresh, np.repeat(fresh[-1:], 3, axis=0))  # a window of this game alone


def test_frames_taken_while_the_model_loaded_are_not_decided_on():
    from kombat.play import STALE_FRAMES, Camera, Stats, Ticker

    class Capture:
        def __init__(self) -> None:
            self.next = 0

        def grab(self) -> bool:
            self.next += 1
            return True

        def read(self):
            self.next += 1
            return self.next <= 20, frame(self.next - 1)

    seen = [int(image[0, 0, 0]) for _, image, _ in Camera(Capture(), Ticker(0.1), Stats())]
    assert seen[0] == STALE_FRAMES and seen[-1] == 19


def test_another_interval_than_the_model_learned_is_refused(tmp_path):
    """--interval or play.json's interval_s: a motion model's window and motion are in ticks of its training."""
    from kombat.play import learned_tick, read_player
    from kombat.stages.package import write_package

    cfg = default_config()
    labels = {"classes": list(cfg.classes), "frame_size": [100, 56], "inputs": ["motion"], "window": 8,
              "motion_gap": 1, "gains": {}, "tick_s": 0.1}
    write_package(tmp_path, cfg, cfg, {}, labels)
    assert read_player(tmp_path, 0.1).interval == 0.1
    with pytest.raises(PlayError, match=r"^--interval is 0.05 s, but the model learned from ticks 0.1 s apart"):
        read_player(tmp_path, 0.05)
    assert learned_tick({**labels, "inputs": ["still"], "window": 1}) is None  # a still frame's model: any pace
    assert learned_tick({key: value for key, value in labels.items() if key != "tick_s"}) is None  # an older package
