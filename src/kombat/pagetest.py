"""Play-test the game page (play.py --web) in Chromium, with a clip as its camera: the decision latency the
page sees, frame captured -> action in the page (p50/p95), as `make bench` reports it.

    python -m kombat.pagetest --package models/package --seconds 20

Chromium's fake capture device plays a YUV4MPEG2 file in a loop (`write_y4m`); Playwright for Python drives
Debian's Chromium (`executable_path`: Playwright's own browser download needs the internet). The browser
tests (tests/test_web_browser.py) use the same pieces.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--use-fake-device-for-media-stream"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def write_y4m(clip: Path, out: Path) -> Path:
    """The clip's frames as raw I420 in a YUV4MPEG2 file, the one format Chromium's fake camera plays."""
    with av.open(str(clip)) as container, out.open("wb") as y4m:
        stream = container.streams.video[0]
        rate = stream.average_rate
        y4m.write(f"YUV4MPEG2 W{stream.width} H{stream.height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
                  .encode())
        for frame in container.decode(stream):
            y4m.write(b"FRAME\n" + frame.to_ndarray(format="yuv420p").tobytes())
    return out


class PlayWeb:
    """play.py --web from a package folder on a free port, as `python`; stdout (JSON lines) and stderr in files."""

    def __init__(self, package: Path, folder: Path, *args: str, python: str = sys.executable,
                 env: dict | None = None) -> None:
        self.out, self.err = folder / "play.out", folder / "play.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen([python, "play.py", "--web", "--no-open", "--port", "0", "--json", *args],
                                            cwd=package, env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + 120
        while "the game page is at " not in self.err.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"play.py --web did not start: {self.err.read_text()[-2000:]}")
            time.sleep(0.2)
        self.address = self.err.read_text().split("the game page is at ")[1].split()[0]

    def stop(self) -> str:
        """SIGTERM, which play.py --web takes as Ctrl-C (a background test run may ignore SIGINT), then what
        play.py said on stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        return self.err.read_text()


def open_page(chromium, address: str, camera: Path | None, extra_args=()):
    """(browser, page, the page's /frame responses as they come) with `camera` as the fake camera (None: none
    granted)."""
    args = [*BROWSER_ARGS, *extra_args]
    if camera:
        args += ["--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={camera}"]
    browser = chromium.launch(executable_path=chromium_path(), args=args)
    page = browser.new_page(viewport={"width": 1000, "height": 720})
    responses = []
    page.on("response", lambda response: responses.append(response) if "/frame?" in response.url else None)
    page.goto(address)
    return browser, page, responses


def page_latency(package: Path, camera: Path, seconds: float, python: str = sys.executable,
                 env: dict | None = None) -> dict:
    """The page's decision latency over `seconds` of `camera`: p50/p95 of frame captured -> action in the
    page, and of play.py's own part (frame received -> decision)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = PlayWeb(package, Path(folder), python=python, env=env)
        try:
            browser, page, responses = open_page(playwright.chromium, server.address, camera)
            page.wait_for_function("window.kombat && kombat.ticks >= 1", timeout=60_000)
            page.wait_for_timeout(seconds * 1000)
            latencies = page.evaluate("kombat.latenciesMs")[5:]  # the first ticks warm the model and the connection
            decision_ms = [response.json()["decision_ms"] for response in responses][5:]
            browser.close()
        finally:
            server.stop()
    if not latencies:
        raise RuntimeError("the page made no decisions")
    page_p50, page_p95 = np.percentile(latencies, [50, 95])
    play_p50, play_p95 = np.percentile(decision_ms, [50, 95])
    return {"ticks": len(latencies), "p50_ms": float(page_p50), "p95_ms": float(page_p95),
            "play_p50_ms": float(play_p50), "play_p95_ms": float(play_p95)}


def main(argv: list[str] | None = None) -> int:
    from kombat.playtest import render_heldout

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=Path("models/package"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    if not chromium_path():
        print("pagetest: error: Chromium not found (make system-deps installs it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        clip, _ = render_heldout(Path(folder), 0, 12.0, args.params)
        result = page_latency(args.package, write_y4m(clip, Path(folder) / "clip.y4m"), args.seconds)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
