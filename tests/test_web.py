"""The game page's server (kombat.web) with a stand-in decision: what it serves, how it reads the page's
frames, and its one-line errors; the page itself in a real browser is tests/test_web_browser.py."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kombat import play, web
from kombat.compose import default_config
from kombat.stages.package import write_package


def mkjs_checkout(folder: Path) -> Path:
    """The layout of an MK.js clone (a script and one sprite, no artwork)."""
    (folder / "game/src").mkdir(parents=True)
    (folder / "game/src/mk.js").write_text("window.mk = {};\n")
    (folder / "game/images/arenas/1").mkdir(parents=True)
    (folder / "game/images/arenas/1/arena.png").write_bytes(b"\x89PNG fake")
    (folder / "readme.md").write_text("outside the game folder\n")
    return folder


def test_find_game_takes_a_checkout_or_its_game_folder(tmp_path):
    checkout = mkjs_checkout(tmp_path / "mk.js")
    assert web.find_game(checkout) == ((checkout / "game").resolve(), "")
    assert web.find_game(checkout / "game") == ((checkout / "game").resolve(), "")


@pytest.mark.parametrize("given, problem", [
    (None, "no MK.js folder given: git clone https://github.com/mgechev/mk.js"),
    ("missing", "missing: no such folder"),
    ("other", "other: not an MK.js checkout (no game/src/mk.js)"),
])
def test_find_game_says_what_is_wrong(tmp_path, given, problem):
    (tmp_path / "other").mkdir()
    found, said = web.find_game(None if given is None else tmp_path / given)
    assert found is None and problem in said


def test_frames_arrive_as_opencv_reads_them():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 1] = (10, 20, 30, 255)  # red, green, blue, alpha
    frame = web.frame_from_rgba(rgba.tobytes(), 3, 2)
    assert frame.shape == (2, 3, 3) and frame.flags.c_contiguous
    assert frame[0, 1].tolist() == [30, 20, 10] and not frame[1].any()
    with pytest.raises(web.WebError, match="frame: 23 bytes is not 3x2 RGBA"):
        web.frame_from_rgba(rgba.tobytes()[:-1], 3, 2)


@pytest.fixture
def server(tmp_path):
    """A server on a free port with the MK.js layout as its game; decisions recorded."""
    received = []

    def decide(t, frame, game, ticks):
        received.append((t, frame, game, ticks))
        return {"t": t, "probabilities": {"punch": 0.7, "other": 0.3}, "action": "punch"}

    game_server = web.GameServer(0, {"classes": ["punch", "other"], "keys": {"punch": "a"}, "interval_s": 0.1},
                                 mkjs_checkout(tmp_path / "mk.js"))
    thread = threading.Thread(target=game_server.run, args=(decide, False), daemon=True)
    thread.start()
    game_server.received = received
    yield game_server
    game_server.shutdown()
    thread.join(timeout=10)


def fetch(server, path, body=None):
    request = urllib.request.Request(server.address + path.lstrip("/"), data=body, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_the_page_its_config_and_the_game_are_served(server):
    status, kind, body = fetch(server, "/")
    assert status == 200 and kind == "text/html" and b'src="/page/page.js"' in body
    assert fetch(server, "/page/page.js")[1] in ("text/javascript", "application/javascript")
    config = json.loads(fetch(server, "/config")[2])
    assert config["classes"] == ["punch", "other"] and config["keys"] == {"punch": "a"}
    assert config["game"]["script"] == "/game/src/mk.js" and config["game"]["images"] == "/game/images/"
    assert fetch(server, config["game"]["script"])[2] == b"window.mk = {};\n"
    assert fetch(server, "/game/images/arenas/1/arena.png")[:2] == (200, "image/png")


@pytest.mark.parametrize("path", ["/game/../../etc/passwd", "/game/%2e%2e/readme.md", "/page/../web.py",
                                  "/game/src", "/nothing"])
def test_nothing_outside_the_two_folders_is_served(server, path):
    status, kind, body = fetch(server, path)
    assert status == 404 and kind == "application/json" and "not found" in json.loads(body)["error"]


def test_no_game_folder_leaves_the_problem_for_the_page(tmp_path):
    game_server = web.GameServer(0, {}, None)
    try:
        game = game_server.page_config["game"]
        assert game["script"] is None and game["url"] == web.MKJS_URL and "git clone" in game["problem"]
    finally:
        game_server.server_close()


def test_a_frame_gets_the_decision_on_its_pixels(server):
    rgba = np.random.default_rng(0).integers(0, 256, (36, 64, 4), dtype=np.uint8)
    status, _, body = fetch(server, "/frame?w=64&h=36&t=1.25&ticks=3&game=g1", rgba.tobytes())
    assert status == 200 and json.loads(body)["action"] == "punch"
    fetch(server, "/frame?w=64&h=36&t=1.35", rgba.tobytes())  # a page of before: one tick, no game id
    [(t, frame, game, ticks), (_, _, no_game, one)] = server.received
    assert t == 1.25 and np.array_equal(frame, rgba[..., [2, 1, 0]]) and (game, ticks) == ("g1", 3)
    assert (no_game, one) == ("", 1)


@pytest.mark.parametrize("query, error", [("w=64&h=36&t=0", "is not 64x36 RGBA"), ("w=8&h=8", "needs w, h and t"),
                                          ("w=5&h=5&t=0&ticks=0", "ticks 0 is below 1"),
                                          ("w=5&h=5&t=0&ticks=many", "needs w, h and t")])
def test_a_bad_frame_is_refused_with_a_reason(server, query, error):
    status, _, body = fetch(server, f"/frame?{query}", b"\0" * 100)
    assert status == 400 and error in json.loads(body)["error"] and not server.received


def test_a_failing_decision_is_a_reason_for_the_page_not_a_traceback(tmp_path, capsys):
    def decide(t, frame, game, ticks):
        raise ValueError("the model broke")

    game_server = web.GameServer(0, {}, None)
    thread = threading.Thread(target=game_server.run, args=(decide, False), daemon=True)
    thread.start()
    try:
        status, _, body = fetch(game_server, "/frame?w=1&h=1&t=0", b"\0\0\0\0")
    finally:
        game_server.shutdown()
        thread.join(timeout=10)
    message = "no decision on this frame (ValueError: the model broke)"
    assert status == 500 and json.loads(body)["error"] == message
    assert capsys.readouterr().err == f"play: error: {message}\n"


def small_package(folder: Path) -> Path:
    """play.json and labels.json as the package stage writes them (no models: what fails first needs none)."""
    cfg = default_config()
    labels = {"classes": list(cfg.classes), "frame_size": [100, 56], "inputs": ["motion"], "window": 3,
              "motion_gap": 1, "gains": {"motion": 4.0}}
    write_package(folder, cfg, cfg, {}, labels)
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


def test_the_package_carries_the_page(tmp_path):
    package = small_package(tmp_path)
    assert (package / "web.py").is_file() and (package / "web/index.html").is_file()
    assert {p.name for p in (package / "web").iterdir()} == {p.name for p in web.PAGE_DIR.iterdir()}


def test_a_port_in_use_is_a_one_line_error(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = play.main(["--web", "--no-open", "--port", str(port), "--package", str(small_package(tmp_path))])
    assert code == 2
    assert capsys.readouterr().err.strip() == (f"play: error: port {port}: already in use "
                                               "(is play.py --web running? pass --port N)")


@pytest.mark.parametrize("flags", [["--source", "clip.mp4"], ["--show"], ["--keys", "on"], ["--every-frame"]])
def test_terminal_flags_with_web_are_refused_not_ignored(tmp_path, capsys, flags):
    code = play.main(["--web", "--no-open", "--port", "0", "--package", str(small_package(tmp_path)), *flags])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("play: error: --web decides on the browser's camera") and flags[0] in error
