"""Synth: render the default data set, videos of synthetic fighters plus their annotations CSV.

It writes exactly what a user brings (videos/*.mp4 and annotations.csv), so everything after it
runs the same code as on real recordings. With `data.source: recordings` it writes only a note.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kombat.cli import stage_main
from kombat.recordings import write_annotations, write_video
from kombat.schema import DataSource, KombatConfig, SynthConfig
from kombat.storage import atomic_dir
from kombat.synth.clips import contact_sheet, render_actor_clip
from kombat.workers import in_processes

SHEET_COLUMNS = ("punch", "punch", "kick", "kick", "other", "other")


def actor_names(synth: SynthConfig) -> list[str]:
    return [f"actor{i + 1:02d}" for i in range(synth.actors)]


def _render_one(job: tuple[SynthConfig, str, int, int, str]) -> tuple[list[dict], list[tuple[np.ndarray, str]]]:
    """Render one clip into `folder`; return its segments and a few sample frames (worker process)."""
    synth, actor_name, actor_index, clip_index, folder = job
    clip = render_actor_clip(synth, actor_name, actor_index, clip_index)
    video = f"videos/{actor_name}_clip{clip_index + 1}.mp4"
    write_video(Path(folder) / video, clip.frames, synth.fps)
    rows = [{"video": video, "start": s.start, "end": s.end, "label": s.label, "actor": actor_name}
            for s in clip.segments]
    samples = []
    rng = np.random.default_rng(actor_index)
    for label in dict.fromkeys(SHEET_COLUMNS):
        picks = [i for i, x in enumerate(clip.labels) if x == label]
        for i in sorted(rng.choice(picks, size=min(2, len(picks)), replace=False)) if picks else []:
            samples.append((clip.frames[i], f"{actor_name} {label}: {clip.moves[i]}"))
    return rows, samples


def run(cfg: KombatConfig, out_dir: Path) -> str:
    with atomic_dir(out_dir) as tmp:
        if cfg.data.source is not DataSource.synthetic:
            (tmp / "NOT_USED.txt").write_text(f"data.source is {cfg.data.source.value}: nothing rendered.\n")
            return f"skipped (data.source={cfg.data.source.value})"
        synth = cfg.data.synth
        (tmp / "videos").mkdir()
        jobs = [(synth, name, i, c, str(tmp)) for i, name in enumerate(actor_names(synth))
                for c in range(synth.clips_per_actor)]
        rows: list[dict] = []
        sheet: list[tuple[np.ndarray, str]] = []
        for clip_rows, samples in in_processes(_render_one, jobs):  # clips rendered on every core
            rows += clip_rows
            if len(sheet) < 24 and samples:
                sheet += samples[:6]
        annotations = write_annotations(tmp / "annotations.csv", rows)
        grid = contact_sheet(sheet, columns=6, cell=(synth.width // 2, synth.height // 2))
        cv2.imwrite(str(tmp / "contact_sheet.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    counts = annotations.assign(seconds=annotations.end - annotations.start).groupby("label").seconds.sum()
    spread = ", ".join(f"{label} {seconds:.0f} s" for label, seconds in counts.items())
    return f"{len(jobs)} clips of {synth.actors} actors, {len(jobs) * synth.clip_seconds:.0f} s at {synth.fps} fps ({spread} labelled)"


def main(argv: list[str] | None = None) -> int:
    return stage_main("synth", __doc__, run, {"out_dir": "folder for videos/ and annotations.csv"}, argv)


if __name__ == "__main__":
    raise SystemExit(main())
