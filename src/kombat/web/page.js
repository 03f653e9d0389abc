// kombat's game page: the camera's frame at each tick goes to play.py (POST /frame), which decides as it
// does on a webcam; a strike moves Sub-Zero through MK.js's own API (one-player "basic" mode). No OS keys.
"use strict";

// MK.js's basic controller: the key it reads (play.json's key map names one) -> the move it makes.
const MK_MOVE_OF_KEY = {a: "HIGH_PUNCH", s: "LOW_PUNCH", d: "LOW_KICK", f: "HIGH_KICK"};
const SHOWN_ACTIONS = 12;

// What the page did, for a person (shown) and for the browser tests and the bench (read).
const kombat = {config: null, game: null, ticks: 0, latenciesMs: [], actions: [], problems: []};
window.kombat = kombat;

function note(id, text, kind) {
  const element = document.getElementById(id);
  element.hidden = !text;
  element.className = "note" + (kind ? " " + kind : "");
  element.replaceChildren();
  for (const part of String(text).split(/(https:\/\/\S+[^\s.,;)])/)) {  // links stay clickable
    if (part.startsWith("https://")) {
      const link = Object.assign(document.createElement("a"), {href: part, textContent: part, target: "_blank"});
      element.append(link);
    } else {
      element.append(part);
    }
  }
  if (kind === "error") kombat.problems.push(`${id}: ${text}`);
}

function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q, low = Math.floor(at), high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

// When to decide: on the first frame at or after each tick, as play.py's Ticker: how many ticks came since the
// last frame that had one (0: none; more than 1: the camera is slower than the ticks, and play.py decides
// those on the frame held, as training does).
function ticker(interval) {
  let next = 0;
  return (t) => {
    if (t + 1e-6 < next) return 0;
    const ticks = Math.floor((t + 1e-6 - next) / interval) + 1;
    next += interval * ticks;
    return ticks;
  };
}

// This page load's fight: play.py starts a new one (smoothing, cooldown, the frames before) when it changes.
const GAME_ID = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);

// ---- MK.js --------------------------------------------------------------------------------------

function startGame(game, keys) {
  document.getElementById("move-map").textContent = Object.entries(keys)
    .map(([action, key]) => `${action} \u2192 ${(MK_MOVE_OF_KEY[key] || "nothing (key " + key + ")").toLowerCase().replace("_", " ")}`)
    .join(", ");
  if (!game.script) {
    document.getElementById("arena").hidden = document.getElementById("lives").hidden = true;
    note("game-note", `No game: ${game.problem}. The camera, the bars and the actions work without it.`, "error");
    return;
  }
  const script = document.createElement("script");
  script.src = game.script;
  script.onerror = () => note("game-note", `MK.js could not be loaded from ${game.script}: is play.py still running?`, "error");
  script.onload = () => {
    if (!window.mk || typeof window.mk.start !== "function" || !window.mk.moves) {
      note("game-note", `${game.script} is not MK.js (no mk.start): clone ${game.url} and pass its folder with --game.`, "error");
      return;
    }
    mk.config.IMAGES = game.images;  // MK.js loads its sprites relative to its own page; ours is elsewhere
    const lives = [document.getElementById("life0"), document.getElementById("life1")];
    mk.start({
      gameType: "basic",
      arena: {container: document.getElementById("arena"), arena: mk.arenas.types.THRONE_ROOM},
      fighters: [{name: "Subzero"}, {name: "Kano"}],
      callbacks: {
        attack: (fighter, opponent) => { lives[fighter === mk.game.fighters[0] ? 1 : 0].style.width = `${opponent.getLife()}%`; },
        "game-end": (loser) => note("game-note", `${loser.getName()} is down. Reload the page for another fight.`, "ok"),
      },
    }).ready(() => { kombat.game = mk.game; });
  };
  document.head.append(script);
}

function strike(action) {
  const move = MK_MOVE_OF_KEY[kombat.config.keys[action]];
  if (kombat.game && move) kombat.game.fighters[0].setMove(mk.moves.types[move]);
}

// ---- the camera and the decisions ---------------------------------------------------------------

const CAMERA_PROBLEMS = {
  NotAllowedError: "The camera is blocked for this page: allow it (the camera icon in the address bar), then reload.",
  SecurityError: "The camera is blocked for this page: allow it (the camera icon in the address bar), then reload.",
  NotFoundError: "No camera found: connect one, then reload.",
  OverconstrainedError: "No camera found: connect one, then reload.",
  NotReadableError: "The camera is busy (another program has it): close that program, then reload.",
};

async function openCamera(video) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    note("camera-note", `This browser offers no camera here: open ${location.protocol}//127.0.0.1:${location.port}/ itself.`, "error");
    return false;
  }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
    await video.play();
    return true;
  } catch (error) {
    note("camera-note", CAMERA_PROBLEMS[error.name] || `The camera could not be opened (${error.name}: ${error.message}).`, "error");
    return false;
  }
}

function makeBars(classes) {
  const bars = document.getElementById("bars");
  return Object.fromEntries(classes.map((name) => {
    const row = document.createElement("div");
    row.className = "row";
    row.innerHTML = `<span></span><div class="bar"><div></div></div><span class="value">0.00</span>`;
    row.firstChild.textContent = name;
    bars.append(row);
    return [name, row];
  }));
}

function show(decision, bars, latencyMs) {
  const shown = decision.smoothed || decision.probabilities;
  for (const [name, row] of Object.entries(bars)) {
    row.querySelector(".bar div").style.width = `${(100 * shown[name]).toFixed(1)}%`;
    row.querySelector(".value").textContent = shown[name].toFixed(2);
    row.classList.toggle("fired", decision.action === name);
  }
  const latencies = kombat.latenciesMs;
  latencies.push(latencyMs);
  document.getElementById("latency").textContent =
    `decision latency (frame captured \u2192 action in the page): p50 ${percentile(latencies, 0.5).toFixed(1)} ms, ` +
    `p95 ${percentile(latencies, 0.95).toFixed(1)} ms over ${latencies.length} ticks`;
  if (!decision.action) return;
  kombat.actions.push({t: decision.t, action: decision.action});
  const list = document.getElementById("actions");
  const item = Object.assign(document.createElement("li"), {textContent: `${decision.action} at ${decision.t.toFixed(1)} s`});
  list.querySelectorAll("li.new").forEach((old) => old.classList.remove("new"));
  item.className = "new";
  list.prepend(item);
  while (list.children.length > SHOWN_ACTIONS) list.lastChild.remove();
}

function decideOnEveryTick(video, config, bars) {
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const due = ticker(config.interval_s);
  let started = null, busy = false, stopped = false;

  async function send(t, ticks, captured) {
    const width = video.videoWidth, height = video.videoHeight;
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, {width, height});
    context.drawImage(video, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height).data;
    let response, decision;
    try {
      response = await fetch(`/frame?w=${width}&h=${height}&t=${t.toFixed(4)}&ticks=${ticks}&game=${GAME_ID}`,
                             {method: "POST", body: pixels, headers: {"Content-Type": "application/octet-stream"}});
      decision = await response.json();
    } catch (error) {
      if (!stopped) note("status", "play.py stopped: start it again (make play); this page carries on when it is back.", "error");
      stopped = true;
      return;
    }
    if (!response.ok) {
      note("status", `play.py could not use the frame: ${decision.error}`, "error");
      return;
    }
    if (decision.action) strike(decision.action);
    show(decision, bars, performance.now() - captured);
    kombat.ticks += 1;
    if (stopped || kombat.ticks === 1) note("status", `Playing: a decision every ${config.interval_s * 1000} ms.`, "ok");
    stopped = false;
  }

  function onFrame() {
    const now = performance.now();
    if (started === null) started = now;
    const t = (now - started) / 1000;
    const ticks = busy ? 0 : due(t);  // while a decision is on its way, ticks wait for the next frame
    if (ticks) {
      busy = true;
      send(t, ticks, now).finally(() => { busy = false; });
    }
    nextFrame();
  }
  const nextFrame = () => ("requestVideoFrameCallback" in video ? video.requestVideoFrameCallback(onFrame)
                                                              : requestAnimationFrame(onFrame));
  nextFrame();
}

async function main() {
  let config;
  try {
    config = await (await fetch("/config")).json();
  } catch (error) {
    note("status", "play.py is not running: start it (make play), then reload.", "error");
    return;
  }
  kombat.config = config;
  const bars = makeBars(config.classes);
  startGame(config.game, config.keys);
  const video = document.getElementById("camera");
  note("status", "Waiting for the camera\u2026");
  if (await openCamera(video)) {
    note("status", "Camera on: waiting for the first decision\u2026");
    decideOnEveryTick(video, config, bars);
  } else {
    note("status", "No camera, so no decisions: see the note under the camera.", "error");
  }
}

main();
