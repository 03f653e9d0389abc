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
from pathlib import Path

from kombat.events import STRIKES, Event, EventScore, match_events
from kombat.recordings import Segment

HELDOUT_ACTOR_BASE = 1000  # actor indices the synth stage never uses


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
    parser.add_argument("--slack", type=float, default=None, help="seconds (default: play.slack_s)")
    args = parser.parse_args(argv)
    from kombat import schema

    slack = schema.load(args.params).play.slack_s if args.slack is None else args.slack
    total = EventScore(0, 0, 0)
    per_class = {name: EventScore(0, 0, 0) for name in STRIKES}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.first, args.first + args.clips):
            video, segments = render_heldout(Path(tmp), i, args.seconds, args.params)
            events = play_events(args.package, video)
            score = match_events(events, segments, slack)
            total += score
            for name in STRIKES:
                per_class[name] += match_events([e for e in events if e.action == name],
                                                [s for s in segments if s.label == name], slack)
            print(f"{video.name}: {score.true_positives}/{score.annotated} strikes found, {score.predicted} actions "
                  f"(precision {score.precision:.2f}, recall {score.recall:.2f})")
    classes = "; ".join(f"{name} {s.precision:.2f} / {s.recall:.2f}" for name, s in per_class.items())
    print(f"all: precision {total.precision:.2f}, recall {total.recall:.2f} over {total.annotated} strikes "
          f"(precision / recall: {classes})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
