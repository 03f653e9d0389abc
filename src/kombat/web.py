"""kombat's game page served on 127.0.0.1 by the standard library's HTTP server: the page (web/ beside this
file), the player's MK.js checkout under /game/, and /frame, where the page's camera frames get decisions.

Copied into models/package/ with the page by the `package` stage; play.py --web runs it. No kombat imports.
"""

from __future__ import annotations

import errno
import json
import mimetypes
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

PAGE_DIR = Path(__file__).resolve().parent / "web"
MKJS_URL = "https://github.com/mgechev/mk.js"
MKJS_SCRIPT = Path("src/mk.js")  # in MK.js's game/ folder, beside images/
MAX_FRAME_BYTES = 3840 * 2160 * 4  # one 4K RGBA frame

# (page time in s, BGR frame, the page load's game id, ticks due: 1, or more when the camera fell behind the
# ticks) -> the decision's JSON object
Decide = Callable[[float, np.ndarray, str, int], dict]


class WebError(Exception):
    """A problem the player can fix (the port, a frame the page sent); one line."""


def find_game(game_dir: Path | None) -> tuple[Path | None, str]:
    """(MK.js's game/ folder, "") from an MK.js checkout or its game/ folder, or (None, what is wrong)."""
    if game_dir is None:
        return None, f"no MK.js folder given: git clone {MKJS_URL}, then pass its folder with --game (make play GAME=...)"
    for folder in (game_dir / "game", game_dir):
        if (folder / MKJS_SCRIPT).is_file():
            return folder.resolve(), ""
    if not game_dir.is_dir():
        return None, f"{game_dir}: no such folder (git clone {MKJS_URL} {game_dir})"
    return None, f"{game_dir}: not an MK.js checkout (no game/{MKJS_SCRIPT}); git clone {MKJS_URL}"


def frame_from_rgba(body: bytes, width: int, height: int) -> np.ndarray:
    """The page's canvas pixels (RGBA, row by row) as a BGR frame, as OpenCV decodes a camera or a video."""
    if width <= 0 or height <= 0 or len(body) != width * height * 4:
        raise WebError(f"frame: {len(body)} bytes is not {width}x{height} RGBA")
    rgba = np.frombuffer(body, np.uint8).reshape(height, width, 4)
    return np.ascontiguousarray(rgba[..., 2::-1])


class GameServer(ThreadingHTTPServer):
    """The page's server; one decision at a time (the model keeps the last ticks in its buffers)."""

    daemon_threads = True

    def __init__(self, port: int, page_config: dict, game_dir: Path | None) -> None:
        try:
            super().__init__(("127.0.0.1", port), Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise WebError(f"port {port}: already in use (is play.py --web running? pass --port N)") from None
            raise WebError(f"port {port}: cannot listen on 127.0.0.1 ({exc.strerror})") from None
        self.game, problem = find_game(game_dir)
        self.page_config = {**page_config, "game": {"script": "/game/" + MKJS_SCRIPT.as_posix() if self.game else None,
                                                    "images": "/game/images/", "problem": problem, "url": MKJS_URL}}
        self.decide: Decide | None = None
        self.decide_lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        """A page closed or reloaded mid-answer is no error; anything else is one line, not a traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"play: note: a request from the page failed ({type(error).__name__}: {error})", file=sys.stderr)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def run(self, decide: Decide, open_browser: bool) -> None:
        """Serve until Ctrl-C, SIGTERM (a service manager's stop, a test's terminate()) or shutdown()."""
        self.decide = decide
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)
        if open_browser:
            threading.Thread(target=webbrowser.open, args=(self.address,), daemon=True).start()
        try:
            self.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.server_close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection carries the page's frames
    disable_nagle_algorithm = True  # headers and body go out as two writes: Nagle would hold the body ~40 ms
    server: GameServer

    def log_message(self, format: str, *args) -> None:  # the terminal shows decisions, not requests
        pass

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, value: dict) -> None:
        self.reply(status, json.dumps(value).encode(), "application/json")

    def reply_file(self, root: Path, relative: str) -> None:
        path = (root / relative).resolve()
        if root not in path.parents or not path.is_file():  # nothing outside the folder, no listings
            self.reply_json(404, {"error": f"{relative}: not found"})
            return
        self.reply(200, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/":
            self.reply_file(PAGE_DIR, "index.html")
        elif path == "/config":
            self.reply_json(200, self.server.page_config)
        elif path.startswith("/page/"):
            self.reply_file(PAGE_DIR, path.removeprefix("/page/"))
        elif path.startswith("/game/") and self.server.game:
            self.reply_file(self.server.game, path.removeprefix("/game/"))
        else:
            self.reply_json(404, {"error": f"{path}: not found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if url.path != "/frame" or length > MAX_FRAME_BYTES:
            self.close_connection = True
            self.reply_json(404 if url.path != "/frame" else 413, {"error": f"{url.path}: not a frame"})
            return
        body = self.rfile.read(length)
        query = parse_qs(url.query)
        try:
            width, height, t = int(query["w"][0]), int(query["h"][0]), float(query["t"][0])
            game, ticks = query.get("game", [""])[0], int(query.get("ticks", ["1"])[0])
            if ticks < 1:  # many is a tab hidden a while, or a laptop asleep: play.py skips what it must
                raise ValueError(f"ticks {ticks} is below 1")
            frame = frame_from_rgba(body, width, height)
        except (KeyError, ValueError) as exc:
            self.reply_json(400, {"error": f"frame: needs w, h and t, and ticks from 1 ({exc})"})
            return
        except WebError as exc:
            self.reply_json(400, {"error": str(exc)})
            return
        try:
            with self.server.decide_lock:
                decision = self.server.decide(t, frame, game, ticks)
        except Exception as exc:  # said on the page and in the terminal, once per frame; the server goes on
            message = f"no decision on this frame ({type(exc).__name__}: {exc})"
            print(f"play: error: {message}", file=sys.stderr, flush=True)
            self.reply_json(500, {"error": message})
            return
        self.reply_json(200, decision)
