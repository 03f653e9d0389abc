"""The game page in a real browser: Debian's Chromium driven by Playwright, a held-out clip as its camera
(Chromium's fake capture device plays a Y4M file, in a loop), play.py --web from a copy of the package, and a
stub mk.js that records the moves the page gives its fighter."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from kombat import video
from kombat.frames import to_model_frame
from kombat.play import Decider, load_model, read_player
from kombat.pagetest import PlayWeb, chromium_path, open_page, write_y4m
from kombat.playtest import Event, match_events, play_events, render_heldout

from .conftest import project_env

pytestmark = pytest.mark.slow  # a built package, a browser and a clip played in real time

SECONDS = 16.0  # the held-out clip; the page watches one pass of it
# What the browser's frames change (measured, docs/game.md): Chromium's YUV->RGB conversion differs from
# FFmpeg's by about 1.2 levels on average; the probabilities by 0.025-0.031 on average (most ticks under
# 0.01), p95 0.12-0.16, and up to 0.35 on a few ticks mid-strike, where the model's output is steep.
PIXEL_TOLERANCE = 3.0  # mean absolute difference of a model frame, in levels of 255
MEAN_PROBABILITY_TOLERANCE, P95_PROBABILITY_TOLERANCE = 0.05, 0.25  # per tick: the largest class's difference
EVENT_TOLERANCE = 0.15  # the page's event precision and recall at most this far below play.py's rule on its frames
SLACK = 0.3  # as kombat.playtest
MOVES = {"punch": "high-punch", "kick": "low-kick"}  # play.json's keys a and d in MK.js's basic controller

# What the page uses of MK.js: start() in basic mode, its moves, fighter 0's setMove, which this stub records.
STUB_MKJS = """
window.stubMoves = [];
window.mk = {
  config: {IMAGES: "images/"},
  arenas: {types: {TOWER: 0, THRONE_ROOM: 1}},
  moves: {types: {HIGH_PUNCH: "high-punch", LOW_PUNCH: "low-punch", LOW_KICK: "low-kick", HIGH_KICK: "high-kick"}},
  start(options) {
    window.stubStarted = {gameType: options.gameType, fighters: options.fighters.map((f) => f.name)};
    const fighter = {setMove: (move) => window.stubMoves.push(move), getName: () => "Subzero", getLife: () => 100};
    mk.game = {fighters: [fighter, {setMove() {}, getName: () => "Kano", getLife: () => 100}]};
    return {ready(callback) { setTimeout(callback, 0); }};
  },
};
"""


def stub_game(folder: Path) -> Path:
    (folder / "game/src").mkdir(parents=True)
    (folder / "game/src/mk.js").write_text(STUB_MKJS)
    return folder


@pytest.fixture(scope="module")
def chromium():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")
    if not chromium_path():
        pytest.skip("Chromium not installed (make system-deps installs it)")
    with playwright_api.sync_playwright() as playwright:
        yield playwright.chromium


@dataclass
class PageRun:
    frames: list[np.ndarray]  # the BGR frames the page sent, in order
    ticks: list[int]  # how many ticks each answered (more than 1: ticks passed while a decision was on its way)
    games: set[str]  # the page loads' names the frames carried
    decisions: list[dict]  # play.py's answer to each
    state: dict  # the page's window.kombat, and the stub's records


def watch_page(chromium, address: str, camera: Path | None, seconds: float, launch_args=(), until=None) -> tuple:
    """The page open with `camera` as the fake camera for `seconds` (or until `until(page)` holds): its /frame
    responses, and the browser, still open, with its page."""
    browser, page, responses = open_page(chromium, address, camera, launch_args)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until(page)):
        page.wait_for_timeout(250)
    return responses, browser, page


def page_state(page) -> dict:
    return page.evaluate("({...window.kombat, game: !!window.kombat.game, moves: window.stubMoves || [],"
                         " started: window.stubStarted || null, status: document.getElementById('status').textContent,"
                         " gameNote: document.getElementById('game-note').textContent,"
                         " cameraNote: document.getElementById('camera-note').textContent})")


def play_page(chromium, address: str, camera: Path, seconds: float) -> PageRun:
    responses, browser, page = watch_page(chromium, address, camera, seconds)
    try:
        page.evaluate("document.getElementById('camera').srcObject.getTracks().forEach((track) => track.stop())")
        page.wait_for_timeout(1000)  # the last frame's answer lands; no new frame follows
        state, responses = page_state(page), list(responses)
        frames, ticks, games, decisions = [], [], set(), []
        for response in responses:
            query = dict(part.split("=") for part in response.url.split("?")[1].split("&"))
            rgba = np.frombuffer(response.request.post_data_buffer, np.uint8)
            frames.append(np.ascontiguousarray(rgba.reshape(int(query["h"]), int(query["w"]), 4)[..., 2::-1]))
            ticks.append(int(query["ticks"]))
            games.add(query["game"])
            decisions.append(response.json())
    finally:
        browser.close()
    return PageRun(frames, ticks, games, decisions, state)


def first_pass(indices: list[int]) -> int:
    """How many ticks come before the looping camera starts the clip again."""
    return next((i for i in range(1, len(indices)) if indices[i] < indices[i - 1] - 15), len(indices))


def test_the_page_plays_a_heldout_clip_as_play_py_does(built_project, chromium, tmp_path):
    clip_mp4, segments = render_heldout(tmp_path, 0, SECONDS, built_project.path / "params.yaml")
    clip = write_y4m(clip_mp4, tmp_path / "clip.y4m")
    package, labels = built_project.package, json.loads((built_project.package / "labels.json").read_text())
    classes, size = labels["classes"], labels["frame_size"]
    server = PlayWeb(package, tmp_path, "--game", str(stub_game(tmp_path / "stub")), env=project_env())
    try:
        run = play_page(chromium, server.address, clip, SECONDS + 4)
    finally:
        terminal = server.stop()
    assert run.state["started"] == {"gameType": "basic", "fighters": ["Subzero", "Kano"]}, run.state
    assert len(run.decisions) >= SECONDS / 0.1 * 0.8, f"{len(run.decisions)} ticks in {SECONDS} s: {terminal[-1000:]}"
    # Every action play.py answered reached the fighter as its MK.js move, in order, and nothing else did.
    actions = [d["action"] for d in run.decisions if d["action"]]
    assert actions and run.state["moves"] == [MOVES[a] for a in actions]
    assert [a["action"] for a in run.state["actions"]] == actions

    assert len(run.games) == 1 and all(ticks >= 1 for ticks in run.ticks)
    # Which clip frame each page frame is: the nearest of the clip's frames as play.py --source decodes them.
    with video.VideoReader(str(clip)) as reader:
        decoded = [frame for _, frame in reader]
    reference = np.stack([to_model_frame(frame, *size) for frame in decoded])
    seen = np.stack([to_model_frame(frame, *size) for frame in run.frames]).astype(np.int16)
    distances = [np.abs(reference.astype(np.int16) - frame).mean(axis=(1, 2, 3)) for frame in seen]
    indices = [int(np.argmin(d)) for d in distances]
    n = first_pass(indices)
    assert n >= 0.8 * len(indices) - 40, indices  # one pass, then a few ticks of the next
    # A page that cannot keep up skips ticks (it sends the next frame only when the last one is answered), and
    # misses strikes that play.py --source, deciding on every tick, sees: say so rather than blame the frames.
    assert n >= 0.75 * SECONDS / 0.1, f"the page decided on {n} of {SECONDS / 0.1:.0f} ticks: the machine is too busy"
    pixel_error = max(float(d.min()) for d in distances[:n])

    # The browser's frames against the decoded ones, through play.py's Decider tick by tick (ticks that passed while
    # a decision was on its way decided on the frame before, as the page asked): the probabilities and actions.
    with av.open(str(clip)) as container:
        fps = float(container.streams.video[0].average_rate)
    rule, interval = read_player(package, None).rule, read_player(package, None).interval
    decider = Decider(load_model(package, "tflite", labels), rule, size, interval)
    same_frames = [decider(indices[i] / fps, decoded[indices[i]], held_ticks=run.ticks[i] - 1) for i in range(n)]
    replayed = np.stack([probabilities for probabilities, _, _ in same_frames])
    from_page = np.array([[d["probabilities"][c] for c in classes] for d in run.decisions[:n]])
    error = np.abs(replayed - from_page).max(axis=1)
    mean_error, p95_error, max_error = float(error.mean()), float(np.percentile(error, 95)), float(error.max())
    print(f"page vs decoded frames: mean pixel difference <= {pixel_error:.2f} levels; probabilities differ by "
          f"{mean_error:.3f} on average, p95 {p95_error:.3f}, max {max_error:.3f} over {n} ticks")
    assert pixel_error <= PIXEL_TOLERANCE
    assert mean_error <= MEAN_PROBABILITY_TOLERANCE and p95_error <= P95_PROBABILITY_TOLERANCE

    # The actions, scored like kombat.playtest on the part of the clip the page watched: against play.py's own
    # rule on the same frames as FFmpeg decodes them (what the page's frames change), and beside play.py --source,
    # whose ticks fall on other frames of the clip than the page's (a strike or two either way: printed).
    start, end = indices[0] / fps, indices[n - 1] / fps
    watched = [s for s in segments if s.end >= start and s.start <= end]
    page_events = [Event(indices[i] / fps, d["action"]) for i, d in enumerate(run.decisions[:n]) if d["action"]]
    same_frames_events = [Event(indices[i] / fps, action) for i, (_, _, action) in enumerate(same_frames) if action]
    source_events = [e for e in play_events(package, clip) if start <= e.t <= end]
    page_score, same_frames_score, source_score = (match_events(events, watched, SLACK) for events in
                                                   (page_events, same_frames_events, source_events))
    print(f"over {page_score.annotated} strikes, precision / recall: page {page_score.precision:.2f} / "
          f"{page_score.recall:.2f}; play.py's rule on the page's frames as FFmpeg decodes them "
          f"{same_frames_score.precision:.2f} / {same_frames_score.recall:.2f}; play.py --source "
          f"{source_score.precision:.2f} / {source_score.recall:.2f}")
    assert page_score.annotated >= 4
    assert page_score.precision >= same_frames_score.precision - EVENT_TOLERANCE
    assert page_score.recall >= same_frames_score.recall - EVENT_TOLERANCE
    assert source_score.true_positives > 0 and page_score.true_positives > 0  # both play the clip
    # The terminal printed the same decisions as the page got, and a summary at the end.
    printed = [json.loads(line) for line in server.out.read_text().splitlines()]
    assert [p["action"] for p in printed] == [d["action"] for d in run.decisions]
    held = sum(min(ticks - 1, labels["window"]) for ticks in run.ticks[1:])
    assert f"play: {len(run.decisions)} frames, {len(run.decisions) + held} decisions" in terminal


@pytest.fixture(scope="module")
def clip(built_project, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    return write_y4m(render_heldout(folder, 1, 4.0, built_project.path / "params.yaml")[0], folder / "clip.y4m")


def test_without_a_game_folder_the_page_says_where_to_get_mkjs_and_still_decides(built_project, chromium, clip,
                                                                                  tmp_path):
    server = PlayWeb(built_project.package, tmp_path, env=project_env())
    responses, browser, page = watch_page(chromium, server.address, clip, 30, until=lambda p: p.evaluate("(window.kombat || {}).ticks || 0") >= 5)
    try:
        state = page_state(page)
        page.screenshot(path=tmp_path / "no-game.png")
    finally:
        browser.close()
        terminal = server.stop()
    assert "git clone https://github.com/mgechev/mk.js" in state["gameNote"] and not state["game"]
    assert state["ticks"] >= 5
    assert "play: note: no MK.js folder given: git clone https://github.com/mgechev/mk.js" in terminal


def test_a_folder_that_is_not_mkjs_is_named_on_the_page_and_in_the_terminal(built_project, chromium, clip, tmp_path):
    (tmp_path / "not-mk").mkdir()
    server = PlayWeb(built_project.package, tmp_path, "--game", str(tmp_path / "not-mk"), env=project_env())
    responses, browser, page = watch_page(chromium, server.address, clip, 30, until=lambda p: p.evaluate("(window.kombat || {}).ticks || 0") >= 1)
    try:
        state = page_state(page)
    finally:
        browser.close()
        terminal = server.stop()
    assert "not-mk: not an MK.js checkout (no game/src/mk.js)" in state["gameNote"]
    assert "play: note: " in terminal and "not-mk: not an MK.js checkout" in terminal


def test_a_blocked_camera_is_said_on_the_page(built_project, chromium, tmp_path):
    server = PlayWeb(built_project.package, tmp_path, "--game", str(stub_game(tmp_path / "stub")), env=project_env())
    responses, browser, page = watch_page(chromium, server.address, None, 30, ["--deny-permission-prompts"],
                                          until=lambda p: p.evaluate("!!window.kombat && kombat.problems.length >= 1 && !!kombat.game"))
    try:
        state = page_state(page)
    finally:
        browser.close()
        server.stop()
    assert "The camera is blocked for this page" in state["cameraNote"] and not responses
    assert state["game"] and "No camera, so no decisions" in state["status"]


def test_when_play_py_stops_the_page_says_so(built_project, chromium, clip, tmp_path):
    server = PlayWeb(built_project.package, tmp_path, env=project_env())
    responses, browser, page = watch_page(chromium, server.address, clip, 30, until=lambda p: p.evaluate("(window.kombat || {}).ticks || 0") >= 3)
    try:
        server.stop()
        page.wait_for_function("document.getElementById('status').textContent.includes('play.py stopped')",
                               timeout=10_000)
        state = page_state(page)
    finally:
        browser.close()
    assert state["status"].startswith("play.py stopped: start it again (make play)")


def test_a_reloaded_page_fights_anew(built_project, chromium, tmp_path):
    """The page tells players to reload for another fight. Its clock starts at 0 again: play.py must start a new
    game then, not keep the last one's cooldown (which silenced it for as long as that page had played)."""
    clip = write_y4m(render_heldout(tmp_path, 0, SECONDS, built_project.path / "params.yaml")[0], tmp_path / "clip.y4m")
    server = PlayWeb(built_project.package, tmp_path, "--game", str(stub_game(tmp_path / "stub")), env=project_env())
    acted = "window.kombat && kombat.actions.length >= 1 && kombat.ticks >= 100"  # 10 s played, and a strike
    responses, browser, page = watch_page(chromium, server.address, clip, 60, until=lambda p: p.evaluate(acted))
    try:
        before = page_state(page)
        page.reload()
        page.wait_for_function("window.kombat && kombat.ticks >= 1", timeout=60_000)
        reloaded = len(responses)
        page.wait_for_function("kombat.actions.length >= 1", timeout=SECONDS * 1000 + 10_000)  # one pass of the clip
        after = page_state(page)
    finally:
        browser.close()
        server.stop()
    games = [dict(part.split("=") for part in r.url.split("?")[1].split("&"))["game"] for r in responses]
    assert before["actions"] and before["ticks"] >= 100
    assert len(set(games[:reloaded - 1])) == 1 and games[-1] not in games[:reloaded - 1]  # a new name per load
    assert after["actions"] and after["actions"][0]["t"] < before["ticks"] * 0.1  # not held back by the last fight
