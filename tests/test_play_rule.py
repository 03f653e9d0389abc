"""The play rule fitted on the user's own clips: per-tick probabilities replayed through play.py's rule,
scored as events; the validation clips choose, the test clips only report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kombat.compose import default_config
from kombat.play import Rule
from kombat.play_rule import (RULE_KEYS, Stream, candidates, choose, clip_segments, fixed_rule, grid_scores,
                              markdown, play_actions, play_report, play_rows, score_rule, split_streams)
from kombat.recordings import Segment

CLASSES, NOTHING, TICK = ("punch", "kick", "other"), "other", 0.1
ONE_HOT = {"punch": [1.0, 0.0, 0.0], "kick": [0.0, 1.0, 0.0], "other": [0.0, 0.0, 1.0], "": [0.0, 0.0, 1.0]}


def clip_rows(source: str, split: str, labels: list[str], phases: int = 1, per_frame: bool = False) -> pd.DataFrame:
    """A clip's manifest rows as extract writes them: phase by phase, each in tick order. `labels` are per tick
    (each of its `phases` frames gets it), or per frame with `per_frame`."""
    if not per_frame:
        labels = [label for label in labels for _ in range(phases)]
    rows = [{"source": source, "actor": source, "time": round(k * TICK / phases, 4), "tick": k // phases,
             "phase": k % phases, "label": label, "split": split, "copy": 0} for k, label in enumerate(labels)]
    return pd.DataFrame(sorted(rows, key=lambda r: (r["phase"], r["tick"])))


def clean_probabilities(manifest: pd.DataFrame) -> np.ndarray:
    """What a perfect head says: its label, one-hot (context frames: other)."""
    return np.array([ONE_HOT[label] for label in manifest["label"]])


def strikes_and_twitches(n_strikes: int, kind: str = "punch") -> list[str]:
    """A clip: `n_strikes` strikes of 0.5 s, each after 2 s of other."""
    return (["other"] * 20 + [kind] * 5) * n_strikes + ["other"] * 10


def twitchy(manifest: pd.DataFrame, ticks_before: int = 10) -> np.ndarray:
    """A head that is sure at every strike, and says punch 0.6 (other 0.35) for 2 ticks, `ticks_before`
    ticks before each strike: noise the fixed rule (other >= 0.4 does nothing, strike >= 0.35) fires on
    with smoothing 1 or 2."""
    probabilities = clean_probabilities(manifest)
    labels = manifest["label"].to_numpy()
    for start in np.flatnonzero((labels[1:] == "punch") & (labels[:-1] != "punch")) + 1:
        probabilities[start - ticks_before:start - ticks_before + 2] = [0.6, 0.05, 0.35]
    return probabilities


def test_segments_are_the_runs_of_one_label_across_the_tick_streams():
    labels = ["other"] * 3 + ["", "punch", "punch", "punch", "", "kick", "kick"]
    manifest = clip_rows("a.mp4", "val", labels, phases=3, per_frame=True)
    assert list(manifest["phase"][:4]) == [0, 0, 0, 0]  # phase by phase, as extract writes them
    segments = clip_segments(manifest["time"].to_numpy(), manifest["label"].to_numpy())
    third = TICK / 3
    assert [s.label for s in segments] == ["other", "punch", "kick"]
    assert segments[1].start == pytest.approx(4 * third, abs=1e-3) and segments[1].end == pytest.approx(7 * third, abs=1e-3)
    assert segments[2].end == pytest.approx(10 * third, abs=1e-3)  # the last frame lasts one frame step


def test_every_tick_stream_of_the_held_out_clips_is_played_and_training_clips_never_are():
    manifest = pd.concat([clip_rows("t.mp4", "train", strikes_and_twitches(1), phases=3),
                          clip_rows("v.mp4", "val", strikes_and_twitches(2), phases=3),
                          clip_rows("v.mp4", "val", strikes_and_twitches(2), phases=3).assign(copy=1),
                          clip_rows("x.mp4", "test", strikes_and_twitches(1), phases=3)], ignore_index=True)
    rows = play_rows(manifest)
    assert set(manifest.loc[rows, "source"]) == {"v.mp4", "x.mp4"} and set(manifest.loc[rows, "copy"]) == {0}
    played = manifest.iloc[rows]
    streams = split_streams(played, clean_probabilities(played), "val", ("punch", "kick"), 0.3, TICK)
    assert len(streams) == 3 and all(len(s.segments) == 2 for s in streams)
    assert all(np.all(np.diff(s.times) > 0) for s in streams)  # each in tick order
    assert streams[1].times[0] == pytest.approx(TICK / 3, abs=1e-3)  # phase 1 starts a frame later


def test_a_sure_head_fires_once_per_strike_and_scores_full_marks():
    manifest = clip_rows("v.mp4", "val", strikes_and_twitches(3) + strikes_and_twitches(2, "kick"))
    stream = split_streams(manifest, clean_probabilities(manifest), "val", ("punch", "kick"), 0.3, TICK)[0]
    rule = Rule(list(CLASSES), NOTHING, 0.4, 0.35, cooldown_s=0.5, smoothing=2)
    actions = play_actions(stream, rule)
    assert [e.action for e in actions] == ["punch"] * 3 + ["kick"] * 2
    score = score_rule([stream], rule, 0.3)
    assert (score.total.precision, score.total.recall, score.quiet_actions) == (1.0, 1.0, 0)
    assert (score.per_class["punch"].annotated, score.per_class["kick"].annotated) == (3, 2)


def test_actions_without_a_strike_are_counted_per_minute_of_quiet_footage():
    quiet = Stream("q.mp4", np.arange(300) * TICK, np.tile(ONE_HOT["other"], (300, 1)), (), 30.0)
    quiet.probabilities[[50, 150]] = ONE_HOT["kick"]
    score = score_rule([quiet], Rule(list(CLASSES), NOTHING, 0.4, 0.35, 0.5, 1), 0.3)
    assert (score.quiet_actions, score.quiet_per_minute, score.total.precision) == (2, 4.0, 0.0)
    assert score.as_dict()["false_actions_per_quiet_minute"] == 4.0


def test_the_grid_scores_each_rule_as_replaying_it_alone_does():
    manifest = clip_rows("v.mp4", "val", strikes_and_twitches(4), phases=2)
    streams = split_streams(manifest, twitchy(manifest), "val", ("punch", "kick"), 0.3, TICK)
    play = default_config(["play.search.nothing_threshold=[0.3,0.6]", "play.search.strike_threshold=[0.5,0.9]",
                           "play.search.smoothing=[1,3]", "play.search.cooldown_s=[0.2]"]).play
    grid = candidates(play)
    assert len(grid) == 3 * 3 * 3 * 2  # conf's own values (0.4, 0.35, 2, 0.5) are added to the grid
    assert fixed_rule(play) in grid
    fast = grid_scores(streams, CLASSES, NOTHING, grid, 0.3)
    for values, score in zip(grid, fast):
        rule = Rule.from_settings(list(CLASSES), {"nothing_class": NOTHING, **values})
        assert score == score_rule(streams, rule, 0.3)
    assert len({s.total for s in fast}) > 1  # the rules differ on these clips


def test_near_ties_go_to_the_rule_closest_to_conf_s_then_to_fewer_false_actions():
    from kombat.events import EventScore
    from kombat.play_rule import RuleScore

    def scored(hits, actions):
        return RuleScore({"punch": EventScore(hits, actions, 40)}, 0, 60.0)

    fixed = {"nothing_threshold": 0.4, "strike_threshold": 0.35, "smoothing": 2, "cooldown_s": 0.5}
    far = {**fixed, "strike_threshold": 0.9, "smoothing": 1}
    near = {**fixed, "strike_threshold": 0.9}
    # F1: far 0.95, near 0.9375 (within 0.02 of the best), fixed 0.9: the closest within the margin wins
    assert choose([far, near, fixed], [scored(38, 40), scored(37, 39), scored(36, 40)], fixed, 0.02, 0.0)[0] == 1
    assert choose([far, near, fixed], [scored(38, 40), scored(37, 39), scored(36, 40)], fixed, 0.0, 0.0)[0] == 0
    assert choose([far, near, fixed], [scored(38, 40), scored(37, 39), scored(36, 40)], fixed, 0.05, 0.0)[0] == 2
    other_far = {**fixed, "strike_threshold": 0.5, "smoothing": 1}
    assert choose([far, other_far], [scored(36, 40), scored(36, 38)], fixed, 0.1, 0.0)[0] == 1  # as close: fewer false actions
    assert choose([fixed, far], [scored(36, 40), scored(36, 38)], fixed, 0.1, 0.0)[0] == 0  # closeness before false actions


def test_a_minimum_recall_chooses_the_most_precise_rule_that_reaches_it():
    from kombat.events import EventScore
    from kombat.play_rule import RuleScore

    def scored(hits, actions):
        return RuleScore({"punch": EventScore(hits, actions, 40)}, 0, 60.0)

    fixed = {"nothing_threshold": 0.4, "strike_threshold": 0.35, "smoothing": 2, "cooldown_s": 0.5}
    grid = [fixed, *({**fixed, "strike_threshold": t} for t in (0.5, 0.6, 0.7, 0.8))]
    # precision / recall: 0.86 / 0.95 (the best F1), 0.94 / 0.825, 0.92 / 0.825, 1.00 / 0.75, 1.00 / 0.80
    scores = [scored(38, 44), scored(33, 35), scored(33, 36), scored(30, 30), scored(32, 32)]
    assert choose(grid, scores, fixed, 0.0, 0.0)[0] == 0
    assert choose(grid, scores, fixed, 0.0, min_recall=0.825)[0] == 1
    index, how, floor = choose(grid, scores, fixed, 0.0, min_recall=0.8)
    assert index == 4 and "the most precise of those catching at least 80% of the strikes" in how  # beats 0.94 / 0.825
    assert floor == 0.8
    assert choose(grid, scores, fixed, 0.0, min_recall=0.7)[0] == 4  # a precision tie: the higher recall
    assert choose(grid, scores, fixed, 0.07, min_recall=0.8)[0] == 1  # 0.94 is within 0.07 of 1.00: recall decides
    index, how, floor = choose(grid, scores, fixed, 0.0, min_recall=0.99)
    assert index == 0 and how.startswith("none catches at least 99% of the strikes, so those with the best event F1")
    assert floor == 0.0  # chosen by F1: the report and the summary say F1
    assert choose(grid, scores, fixed, 0.0, min_recall=1.0)[1].startswith("none catches all of the strikes")


def report_clips(val_twitch_before: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    manifest = pd.concat([clip_rows("v1.mp4", "val", strikes_and_twitches(4), phases=3),
                          clip_rows("v2.mp4", "val", strikes_and_twitches(3), phases=3),
                          clip_rows("x1.mp4", "test", strikes_and_twitches(4), phases=3)], ignore_index=True)
    return manifest, twitchy(manifest, val_twitch_before)


def test_the_fitted_rule_beats_the_fixed_one_on_the_validation_clips():
    manifest, probabilities = report_clips()
    play = default_config(["play.smoothing=1"]).play
    report = play_report(manifest, probabilities, CLASSES, NOTHING, play, TICK)
    assert report.fitted and report.candidates == len(candidates(play))
    chosen, fixed = report.scores["val"]["chosen"].total, report.scores["val"]["fixed"].total
    assert fixed.precision == pytest.approx(0.5) and fixed.recall == 1.0  # a twitch before every strike fires
    assert chosen.precision == 1.0 and chosen.recall == 1.0
    assert report.chosen["strike_threshold"] > 0.55 or report.chosen["smoothing"] > 1 or \
        report.chosen["nothing_threshold"] <= 0.45
    assert (report.clips, report.streams) == ({"val": 2, "test": 1}, {"val": 6, "test": 3})
    metrics = report.as_dict()
    assert metrics["val"]["chosen"]["f1"] == 1.0 and metrics["val"]["fixed"]["precision"] == 0.5
    assert metrics["test"]["fixed"]["recall_punch"] == 1.0 and metrics["chosen"] == report.chosen
    card = markdown(report, NOTHING, "actor")
    assert "| fixed | test (1) | 0.50 / 1.00 | 0.00 / 0.00 | 0.50 / 1.00 / 0.67 |" in card
    assert "fitted on the validation clips (2 clips, 6 tick streams, 21 strikes)" in card


@pytest.mark.parametrize("min_recall", [0.0, 0.8])
def test_the_test_clips_never_choose_the_rule(min_recall):
    manifest, probabilities = report_clips()
    play = default_config(["play.smoothing=1", f"play.fit_min_recall={min_recall}"]).play
    report = play_report(manifest, probabilities, CLASSES, NOTHING, play, TICK)
    test_rows = (manifest["split"] == "test").to_numpy()
    val_rows = (manifest["split"] == "val").to_numpy()
    rng = np.random.default_rng(0)
    scrambled = probabilities.copy()
    scrambled[test_rows] = rng.dirichlet(np.ones(3), test_rows.sum())
    other = play_report(manifest, scrambled, CLASSES, NOTHING, play, TICK)
    assert other.chosen == report.chosen and other.scores["val"] == report.scores["val"]
    assert other.scores["test"] != report.scores["test"]  # the test scores did see the change
    # The validation clips do choose: the same noise there changes the choice.
    noisy_val = probabilities.copy()
    noisy_val[val_rows] = rng.dirichlet(np.ones(3), val_rows.sum())
    assert play_report(manifest, noisy_val, CLASSES, NOTHING, play, TICK).chosen != report.chosen


@pytest.mark.parametrize("override, clips, tick, why", [
    ("play.fit=false", True, TICK, "play.fit is false"),
    ("play.smoothing=1", False, TICK, "the data are images"),
    ("play.smoothing=1", True, 0.05, "is not one tick"),
])
def test_the_fixed_rule_stands_when_there_is_nothing_to_fit(override, clips, tick, why):
    manifest, probabilities = report_clips()
    play = default_config([override]).play
    report = play_report(manifest, probabilities, CLASSES, NOTHING, play, tick, clips=clips)
    assert not report.fitted and report.chosen == fixed_rule(play) and why in report.reason
    assert report.scores["val"]["chosen"] == report.scores["val"]["fixed"]


def test_validation_clips_without_a_strike_leave_the_fixed_rule():
    manifest = pd.concat([clip_rows("v.mp4", "val", ["other"] * 40), clip_rows("x.mp4", "test", strikes_and_twitches(2))],
                         ignore_index=True)
    report = play_report(manifest, clean_probabilities(manifest), CLASSES, NOTHING, default_config().play, TICK)
    assert not report.fitted and "no strike to fit on" in report.reason
    assert report.scores["test"]["chosen"].total.recall == 1.0


def test_a_binary_task_scores_its_one_strike_class_only():
    labels = strikes_and_twitches(2) + strikes_and_twitches(2, "kick")
    manifest = clip_rows("v.mp4", "val", labels)
    probabilities = np.array([[0.0, 1.0] if label == "punch" else [1.0, 0.0] for label in manifest["label"]])
    stream = split_streams(manifest, probabilities, "val", ("punch",), 0.3, TICK)[0]
    assert {s.label for s in stream.segments} == {"punch"}  # kicks are no_punch here, not missed strikes
    score = score_rule([stream], Rule(["no_punch", "punch"], "no_punch", 0.4, 0.35, 0.5, 1), 0.3)
    assert list(score.per_class) == ["punch"] and (score.total.precision, score.total.recall) == (1.0, 1.0)


def test_rule_keys_are_play_settings():
    play = default_config().play
    assert all(hasattr(play, key) and hasattr(play.search, key) for key in RULE_KEYS)
