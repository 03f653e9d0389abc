"""Play-test a package on held-out synthetic fighters: does play.py fire at the annotated strikes?

    python -m kombat.playtest --package models/package --clips 5

Renders clips of actors the model never saw (same renderer, new seeds), runs the package's own
play.py on each (`--json`, a decision every 100 ms) and matches its actions to the annotated
punch and kick segments: an action counts when it names the segment's label and falls inside the
segment widened by `slack` seconds; each segment is matched once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kombat.recordings import Segment

STRIKES = ("punch", "kick")
HELDOUT_ACTOR_BASE = 1000  # actor indices the synth stage never uses


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


def render_heldout(folder: Path, clip_index: int, seconds: float, params: Path) -> tuple[Path, list[Segment]]:
    """One clip of a never-seen actor, rendered with the project's synth settings."""
    from kombat import schema
    from kombat.recordings import write_video
    from kombat.synth.clips import render_actor_clip

    synth = schema.load(params).data.synth
    clip = render_actor_clip(synth, f"heldout{clip_index:02d}", HELDOUT_ACTOR_BASE + clip_index, 0, seconds)
    path = folder / f"heldout{clip_index:02d}.mp4"
    write_video(path, clip.frames, synth.fps)
    return path, clip.segments


def play_events(package: Path, video: Path, extra: list[str] = ()) -> list[Event]:
    """Run the package's play.py on a video and read its actions from the JSON lines."""
    out = subprocess.run([sys.executable, str(package / "play.py"), "--source", str(video), "--json", "--keys", "off",
                          *extra], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"play.py failed on {video}: {out.stderr.strip()[-500:]}")
    decisions = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return [Event(d["t"], d["action"]) for d in decisions if d["action"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=Path("models/package"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--clips", type=int, default=5)
    parser.add_argument("--first", type=int, default=0,
                        help="index of the first held-out actor (0: the reported clips; tune play settings on others, e.g. 5)")
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--slack", type=float, default=0.3)
    args = parser.parse_args(argv)
    total = EventScore(0, 0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.first, args.first + args.clips):
            video, segments = render_heldout(Path(tmp), i, args.seconds, args.params)
            score = match_events(play_events(args.package, video), segments, args.slack)
            total += score
            print(f"{video.name}: {score.true_positives}/{score.annotated} strikes found, {score.predicted} actions "
                  f"(precision {score.precision:.2f}, recall {score.recall:.2f})")
    print(f"all: precision {total.precision:.2f}, recall {total.recall:.2f} over {total.annotated} strikes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
