"""Actions matched to annotated strikes: event precision and recall, as the play-test scores a package on
rendered clips and the package stage scores its play rule on the user's own clips (kombat.play_rule)."""

from __future__ import annotations

from dataclasses import dataclass

from kombat.recordings import Segment

STRIKES = ("punch", "kick")


@dataclass(frozen=True)
class Event:
    t: float
    action: str


@dataclass(frozen=True)
class EventScore:
    true_positives: int
    predicted: int
    annotated: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.annotated if self.annotated else 0.0

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0

    def __add__(self, other: EventScore) -> EventScore:
        return EventScore(self.true_positives + other.true_positives, self.predicted + other.predicted,
                          self.annotated + other.annotated)


def match_events(events: list[Event], segments: list[Segment], slack: float) -> EventScore:
    """Greedy in time: each event takes the earliest unmatched strike segment of its label it falls in."""
    strikes = sorted((s for s in segments if s.label in STRIKES), key=lambda s: s.start)
    used = [False] * len(strikes)
    hits = 0
    for event in sorted(events, key=lambda e: e.t):
        for i, segment in enumerate(strikes):
            if not used[i] and segment.label == event.action and segment.start - slack <= event.t <= segment.end + slack:
                used[i] = True
                hits += 1
                break
    return EventScore(hits, len(events), len(strikes))
