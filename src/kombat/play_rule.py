"""The play rule fitted on the user's own clips: the head's per-tick probabilities of whole clips replayed
through play.py's own rule (Smoother, decide, Trigger) and scored as events against the annotated strikes.

The package stage fits play.json's thresholds, smoothing and cooldown on the validation clips (a grid
over `play.search`, by event F1, or by event precision among the rules whose recall reaches
`play.fit_min_recall`) and reports the chosen and the fixed rule (conf's play.* values, also
the fallback) on the validation and the test clips, per class. The test clips never take part in the choice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kombat.play import Rule, Smoother, Trigger, decide
from kombat.events import Event, EventScore, match_events
from kombat.recordings import Segment
from kombat.schema import PlayConfig

RULE_KEYS = ("nothing_threshold", "strike_threshold", "smoothing", "cooldown_s")  # what the fit chooses
SPLITS = ("val", "test")  # the clips the rules are scored on; only the first chooses


@dataclass(frozen=True)
class Stream:
    """One tick stream of one clip as play sees it: a video's phase (extract.every_frame), copy 0."""

    clip: str
    times: np.ndarray  # (T,) seconds, each tick's frame time
    probabilities: np.ndarray  # (T, classes): the head's output at each tick
    segments: tuple[Segment, ...]  # the clip's strike segments
    quiet_s: float  # seconds of its ticks outside every strike segment widened by the slack


@dataclass(frozen=True)
class RuleScore:
    """A rule's events on some streams: per strike class, and its actions when nobody strikes."""

    per_class: dict[str, EventScore]
    quiet_actions: int  # actions outside every strike segment widened by the slack
    quiet_s: float  # the footage those could fire in

    @property
    def total(self) -> EventScore:
        return sum(self.per_class.values(), EventScore(0, 0, 0))

    @property
    def false_actions(self) -> int:
        return self.total.predicted - self.total.true_positives

    @property
    def quiet_per_minute(self) -> float:
        return self.quiet_actions / (self.quiet_s / 60) if self.quiet_s else 0.0

    def as_dict(self) -> dict[str, float]:
        total = self.total
        figures = {"precision": total.precision, "recall": total.recall, "f1": total.f1,
                   "strikes": total.annotated, "actions": total.predicted,
                   "false_actions_per_quiet_minute": self.quiet_per_minute, "quiet_minutes": self.quiet_s / 60}
        for name, score in self.per_class.items():
            figures.update({f"precision_{name}": score.precision, f"recall_{name}": score.recall})
        return {k: round(float(v), 4) for k, v in figures.items()}


@dataclass
class PlayReport:
    """What the package stage writes about its play rule: the choice and both rules' scores."""

    chosen: dict[str, float]  # RULE_KEYS -> value, what play.json gets
    fixed: dict[str, float]  # conf's play.* values
    fitted: bool
    min_recall: float  # the recall floor the choice was made at (0: by event F1, or none of the rules reached it)
    reason: str  # how the rule was chosen, or why the fixed one stands
    candidates: int
    scores: dict[str, dict[str, RuleScore]] = field(default_factory=dict)  # split -> chosen/fixed -> score
    streams: dict[str, int] = field(default_factory=dict)  # split -> tick streams scored
    clips: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"fitted": self.fitted, "chosen": self.chosen, "fixed": self.fixed, "candidates": self.candidates,
                "min_recall": self.min_recall,
                **{split: {"clips": self.clips[split], "streams": self.streams[split],
                           **{rule: score.as_dict() for rule, score in by_rule.items()}}
                   for split, by_rule in self.scores.items()}}


# ---- play's rule, tick by tick ---------------------------------------------------------------


def smoothed(probabilities: np.ndarray, smoothing: int) -> np.ndarray:
    """What play.py decides on at each tick: play's Smoother over the ticks so far."""
    smooth = Smoother(smoothing)
    return np.stack([smooth(p) for p in probabilities]) if len(probabilities) else probabilities


def decisions(smoothed_probabilities: np.ndarray, rule: Rule) -> list[str | None]:
    return [decide(p, rule) for p in smoothed_probabilities]


def fire(times: np.ndarray, decided: list[str | None], cooldown_s: float) -> list[Event]:
    """The actions play's Trigger fires on these decisions."""
    trigger = Trigger(cooldown_s)
    return [Event(float(t), action) for t, d in zip(times, decided) if (action := trigger.step(float(t), d))]


def play_actions(stream: Stream, rule: Rule) -> list[Event]:
    """The actions play.py would fire on this stream with this rule."""
    return fire(stream.times, decisions(smoothed(stream.probabilities, rule.smoothing), rule), rule.cooldown_s)


# ---- scoring ------------------------------------------------------------------------------------


def near_a_strike(t: float | np.ndarray, segments: tuple[Segment, ...], slack: float):
    t = np.asarray(t, dtype=float)
    near = np.zeros(t.shape, dtype=bool)
    for s in segments:
        near |= (s.start - slack <= t) & (t <= s.end + slack)
    return near


def score_actions(actions: list[list[Event]], streams: list[Stream], strikes: tuple[str, ...],
                  slack: float) -> RuleScore:
    """Each stream's actions matched to its strikes as kombat.playtest matches them, summed per class."""
    per_class = {name: EventScore(0, 0, 0) for name in strikes}
    quiet_actions = 0
    for events, stream in zip(actions, streams):
        for name in strikes:
            per_class[name] += match_events([e for e in events if e.action == name],
                                            [s for s in stream.segments if s.label == name], slack)
        quiet_actions += int((~near_a_strike([e.t for e in events], stream.segments, slack)).sum())
    return RuleScore(per_class, quiet_actions, sum(s.quiet_s for s in streams))


def score_rule(streams: list[Stream], rule: Rule, slack: float) -> RuleScore:
    strikes = tuple(c for c in rule.classes if c != rule.nothing)
    return score_actions([play_actions(s, rule) for s in streams], streams, strikes, slack)


# ---- the clips: streams out of the manifest ---------------------------------------------------


def clip_segments(times: np.ndarray, labels: np.ndarray) -> list[Segment]:
    """A clip's labelled segments from its frames' labels (every tick stream together, in time order):
    maximal runs of one label, each ending where the next frame starts. Two segments of one label
    annotated back to back, with no other frame between them, read as one."""
    order = np.argsort(times, kind="stable")
    times, labels = np.asarray(times, float)[order], np.asarray(labels)[order]
    if not len(times):
        return []
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    ends = np.append(times[1:], times[-1] + step)
    segments, start = [], 0
    for i in range(1, len(times) + 1):
        if i == len(times) or labels[i] != labels[start]:
            if labels[start]:
                segments.append(Segment(float(times[start]), float(ends[i - 1]), str(labels[start])))
            start = i
    return segments


def play_rows(manifest: pd.DataFrame) -> np.ndarray:
    """The rows play replays: every tick (labelled or context) of the validation and test clips as recorded."""
    original = (manifest["copy"] == 0).to_numpy() if "copy" in manifest else np.ones(len(manifest), bool)
    return np.flatnonzero(manifest["split"].isin(SPLITS).to_numpy() & original)


def split_streams(manifest: pd.DataFrame, probabilities: np.ndarray, split: str, strikes: tuple[str, ...],
                  slack: float, tick_s: float) -> list[Stream]:
    """One split's tick streams: `manifest` holds play_rows' rows (in their order), `probabilities` theirs."""
    streams = []
    in_split = manifest["split"].to_numpy() == split
    for clip, rows in manifest[in_split].groupby("source", sort=True).groups.items():
        clip_rows = manifest.loc[rows]
        segments = tuple(s for s in clip_segments(clip_rows["time"].to_numpy(), clip_rows["label"].to_numpy())
                         if s.label in strikes)
        for _, phase_rows in clip_rows.groupby("phase", sort=True):
            phase_rows = phase_rows.sort_values("tick")
            positions = manifest.index.get_indexer(phase_rows.index)
            times = phase_rows["time"].to_numpy(dtype=float)
            quiet_s = float((~near_a_strike(times, segments, slack)).sum()) * tick_s
            streams.append(Stream(str(clip), times, np.asarray(probabilities)[positions], segments, quiet_s))
    return streams


# ---- the fit ----------------------------------------------------------------------------------


def fixed_rule(play: PlayConfig) -> dict[str, float]:
    return {key: getattr(play, key) for key in RULE_KEYS}


def candidates(play: PlayConfig) -> list[dict[str, float]]:
    """The grid of `play.search`, with conf's own value of each key added, so the fixed rule is a candidate."""
    fixed = fixed_rule(play)
    values = [sorted(set(getattr(play.search, key)) | {fixed[key]}) for key in RULE_KEYS]
    return [dict(zip(RULE_KEYS, combo)) for combo in itertools.product(*values)]


def make_rule(classes: tuple[str, ...], nothing: str, values: dict[str, float]) -> Rule:
    return Rule.from_settings(list(classes), {"nothing_class": nothing, **values})


def grid_scores(streams: list[Stream], classes: tuple[str, ...], nothing: str, grid: list[dict[str, float]],
                slack: float) -> list[RuleScore]:
    """score_rule for every candidate, each step of play's rule computed once for the candidates that share it."""
    strikes = tuple(c for c in classes if c != nothing)
    smooth_cache: dict[int, list[np.ndarray]] = {}
    decision_cache: dict[tuple, list[list[str | None]]] = {}
    scores = []
    for values in grid:
        rule = make_rule(classes, nothing, values)
        if rule.smoothing not in smooth_cache:
            smooth_cache[rule.smoothing] = [smoothed(s.probabilities, rule.smoothing) for s in streams]
        key = (rule.smoothing, rule.nothing_threshold, rule.strike_threshold)
        if key not in decision_cache:
            decision_cache[key] = [decisions(p, rule) for p in smooth_cache[rule.smoothing]]
        actions = [fire(s.times, d, rule.cooldown_s) for s, d in zip(streams, decision_cache[key])]
        scores.append(score_actions(actions, streams, strikes, slack))
    return scores


def choose(grid: list[dict[str, float]], scores: list[RuleScore], fixed: dict[str, float], margin: float,
           min_recall: float) -> tuple[int, str, float]:
    """The candidate to play, how it was chosen, and the recall floor it was chosen at (0: by F1).

    By event F1 (min_recall 0): among the candidates within `margin` of the best F1 (a near tie on a few
    validation clips is noise), the one closest to the fixed rule (fewest keys changed), then fewer false
    actions, then the higher F1, then the first in the grid. With a min_recall: among the candidates whose
    recall reaches it (all strikes together, not each class), those within `margin` of the best precision,
    then the higher recall, then the same order; by F1 when no candidate reaches it."""

    def changed(i: int) -> int:
        return sum(grid[i][k] != fixed[k] for k in RULE_KEYS)

    if min_recall > 0:
        reaching = [i for i in range(len(grid)) if scores[i].total.recall >= min_recall - 1e-9]
        if reaching:
            best = max(scores[i].total.precision for i in reaching)
            top = [i for i in reaching if scores[i].total.precision >= best - margin - 1e-9]
            within = f" (or within {margin:g} of it)" if margin > 0 else ""
            return (min(top, key=lambda i: (-round(scores[i].total.recall, 9), changed(i), scores[i].false_actions, i)),
                    f"the most precise{within} of those catching {share(min_recall)} of the strikes, then the "
                    f"higher recall, then the one that changes the fewest keys of conf's play.*", min_recall)
    best = max(score.total.f1 for score in scores)

    def key(i: int) -> tuple:
        return (changed(i), scores[i].false_actions, -round(scores[i].total.f1, 9), i)

    best_ones = f"those within {margin:g} of the best event F1" if margin > 0 else "those with the best event F1"
    unreached = f"none catches {share(min_recall)} of the strikes, so " if min_recall > 0 else ""
    return (min((i for i in range(len(grid)) if scores[i].total.f1 >= best - margin - 1e-9), key=key),
            f"{unreached}{best_ones}, the one that changes the fewest keys of conf's play.* (then fewer false actions)",
            0.0)


def share(fraction: float) -> str:
    """A recall floor in words: 'all', or 'at least 80%'."""
    return "all" if fraction >= 1 else f"at least {100 * fraction:.3g}%"


def describe(values: dict[str, float], nothing: str) -> str:
    return (f"{nothing} >= {values['nothing_threshold']:g} does nothing, else a strike >= "
            f"{values['strike_threshold']:g}; smoothing {values['smoothing']:g}, cooldown {values['cooldown_s']:g} s")


def play_report(manifest: pd.DataFrame, probabilities: np.ndarray, classes: tuple[str, ...], nothing: str,
                play: PlayConfig, tick_s: float, clips: bool = True) -> PlayReport:
    """Fit the rule on the validation streams (when `play.fit`, the clips are videos and play decides once a tick),
    then score the chosen and the fixed rule on the validation and test streams. `manifest` holds play_rows'
    rows and `probabilities` the head's output for each of them."""
    strikes = tuple(c for c in classes if c != nothing)
    streams = {split: split_streams(manifest, probabilities, split, strikes, play.slack_s, tick_s)
               for split in SPLITS}
    fixed, grid = fixed_rule(play), candidates(play)
    val_strikes = sum(len(s.segments) for s in streams["val"])
    if not play.fit:
        why = "play.fit is false"
    elif not clips:
        why = "the data are images, not clips"
    elif abs(play.interval_s / tick_s - 1) > 1e-6:
        why = f"play.interval_s ({play.interval_s:g}) is not one tick of the clips ({tick_s:g} s)"
    elif not val_strikes:
        why = "the validation clips have no strike to fit on"
    else:
        why = ""
    if why:
        chosen, reason, n, floor = fixed, f"the fixed rule (conf's play.*): not fitted, {why}", 0, 0.0
    else:
        val_scores = grid_scores(streams["val"], classes, nothing, grid, play.slack_s)
        best, how, floor = choose(grid, val_scores, fixed, play.fit_margin, play.fit_min_recall)
        chosen, n = grid[best], len(grid)
        n_clips, n_streams = len({s.clip for s in streams["val"]}), len(streams["val"])
        reason = (f"fitted on the validation clips ({counted(n_clips, 'clip')}, {counted(n_streams, 'tick stream')}, "
                  f"{counted(val_strikes, 'strike')}): of the {n} rules in play.search, {how}")
    report = PlayReport(chosen=chosen, fixed=fixed, fitted=not why, min_recall=floor, reason=reason,
                        candidates=n)
    for split in SPLITS:
        report.streams[split] = len(streams[split])
        report.clips[split] = len({s.clip for s in streams[split]})
        report.scores[split] = {name: score_rule(streams[split], make_rule(classes, nothing, values), play.slack_s)
                                for name, values in (("chosen", chosen), ("fixed", fixed))}
    return report


def counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def markdown(report: PlayReport, nothing: str, split_by: str) -> str:
    """The model card's section on play.json's rule: what was chosen and both rules' event scores."""
    strikes = list(next(iter(report.scores["val"].values())).per_class)
    head = ("| rule | clips | " + " | ".join(f"{c} P / R" for c in strikes) +
            " | all P / R / F1 | actions per minute without a strike |")
    rows = [head, "|---|---|" + "---|" * len(strikes) + "---|---|"]
    for name, values in (("chosen", report.chosen), ("fixed", report.fixed)):
        for split, title in (("val", "validation"), ("test", "test")):
            score = report.scores[split][name]
            total = score.total
            cells = [f"{score.per_class[c].precision:.2f} / {score.per_class[c].recall:.2f}" for c in strikes]
            rows.append(f"| {name} | {title} ({report.clips[split]}) | " + " | ".join(cells) +
                        f" | {total.precision:.2f} / {total.recall:.2f} / {total.f1:.2f} | "
                        f"{score.quiet_per_minute:.2f} |")
    return "\n".join([
        f"- **Chosen**: {describe(report.chosen, nothing)}; {report.reason}.",
        f"- **Fixed** (conf's play.*, the fallback): {describe(report.fixed, nothing)}.",
        f"- Event scores: an action counts when it names the strike and falls within its segment widened by the "
        f"slack, each strike once; every tick stream of a clip (one per frame offset) is played, from the "
        f"held-out {split_by}s' clips as recorded. The test rows played no part in the choice.",
        "",
        *rows,
    ])
