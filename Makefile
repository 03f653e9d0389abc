# kombat: `make demo` runs the pipeline on the embedded synthetic data, `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL := 2

# Offline machines with ../shared/keras (this project's CI) get a writable copy of Keras's cache;
# everywhere else Keras downloads the ImageNet weights into ~/.keras once, as usual.
SHARED_KERAS := $(wildcard ../shared/keras/models/mobilenet_1_0_224_tf_no_top.h5)
ifeq ($(origin KERAS_HOME), undefined)
ifneq ($(SHARED_KERAS),)
export KERAS_HOME := $(abspath .cache/keras)
endif
endif

.PHONY: setup system-deps demo test test-slow test-all ui params keras-cache pose-models clean-outputs play bench record label crossval curve

setup: $(VENV)/.installed keras-cache pose-models

# uv installs the same versions as pip in a fraction of the time (docs/performance.md): setup uses it
# where it is installed, and pip where it is not or where uv fails (uv does not read pip's config:
# an offline machine's local index, its certificates). INSTALLER=pip forces pip. --compile-bytecode: as pip
# does, the .pyc files are written at install, not by each stage's first import (where PYTHONDONTWRITEBYTECODE
# is set, by every import: docs/performance.md says what that cost make demo).
INSTALLER ?= $(if $(shell command -v uv 2>/dev/null),uv,pip)

$(VENV)/.installed: pyproject.toml constraints.txt
ifeq ($(INSTALLER),uv)
	uv venv -q --seed --allow-existing --python $(PYTHON) $(VENV) && uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]' \
	  || { echo "note: uv could not install, so pip does"; $(MAKE) --no-print-directory INSTALLER=pip $@; }
else
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
endif
	touch $@

keras-cache:
ifneq ($(SHARED_KERAS),)
ifeq ($(KERAS_HOME),$(abspath .cache/keras))
	@mkdir -p .cache/keras/models
	@cp -n ../shared/keras/models/*.h5 .cache/keras/models/ 2>/dev/null || true
endif
endif

# BlazePose's two models (docs/pose.md), read out of the mediapipe wheel pip downloads from PyPI (or
# ../shared/pose/'s copy of it, for offline machines) into pose.models_dir; a file whose sha256 is not
# the one kombat.pose.MODELS states stops setup. Offline with no copy: a note (only the pose input needs them).
SHARED_POSE_WHEEL := $(firstword $(wildcard ../shared/pose/mediapipe-0.10.21-*.whl))
pose-models: $(VENV)/.installed
	@python -m kombat.pose_models --if-reachable $(if $(SHARED_POSE_WHEEL),--wheel $(SHARED_POSE_WHEEL))

system-deps:  ## Xvfb, xdotool and Chromium for the window, key-press and game-page tests (apt-get as root or with sudo; elsewhere those tests are skipped)
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null; then \
	    $$SUDO apt-get install -y -q xvfb xdotool chromium >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q xvfb xdotool chromium >/dev/null; } || \
	    echo "note: could not install Xvfb, xdotool and Chromium, so the window, key-press and game-page tests will be skipped"; \
	  else echo "note: Xvfb, xdotool or Chromium is missing, so the window, key-press and game-page tests will be skipped (apt-get install xvfb xdotool chromium)"; fi; }

params: setup  ## compose conf/ into params.yaml (add overrides: make params O="head.units=256")
	python -m kombat.compose $(O)

demo: setup  ## the whole pipeline on the default synthetic data, then a summary
	@test -d .git || { git init -q && git add -A && git -c user.name=kombat -c user.email=kombat@localhost commit -qm "kombat"; }
	dvc repro
	python -m kombat.summary

test: setup system-deps  ## the default test run (slow end-to-end tests excluded)
	python -m pytest -q

test-slow: setup system-deps  ## only the slow end-to-end tests (pipelines in fresh copies, sweeps, play)
	python -m pytest -q -m slow

test-all: test test-slow  ## every test: the everyday run, then the slow end-to-end ones

GAME ?= mk.js
play: setup  ## the fight in your browser: MK.js (git clone https://github.com/mgechev/mk.js; GAME=its folder) and your camera
	@test -d "$(GAME)" || echo "play: no MK.js in $(GAME): git clone https://github.com/mgechev/mk.js $(GAME) (or make play GAME=path/to/mk.js); the page works without it, with no fighter"
	cd models/package && python play.py --web --game "$(abspath $(GAME))" $(A)

record: setup  ## record your moves with webcam 0: make record ACTOR=alice (then compose data=videos)
	python -m kombat.record --actor $(ACTOR) $(A)

label: setup  ## review a video's segments: make label VIDEO=data/raw/videos/alice_..._take1.mp4
	python -m kombat.label $(VIDEO) $(A)

bench: setup  ## benchmarks of HEAD in a fresh clone (about 9 minutes): bench/results.json and a table
	python bench/run.py

crossval: setup  ## k folds by actor on the cached embeddings, mean +- sd (add overrides: make crossval O="embed.input=flow")
	python -m kombat.crossval $(O)

curve: setup  ## the learning curve: macro-F1 against training actors (metrics/learning_curve.csv, plots/learning_curve.png)
	python -m kombat.crossval --curve $(O)

ui: setup  ## MLflow UI on the project's store: http://127.0.0.1:5000
	mlflow ui --backend-store-uri sqlite:///$(abspath mlflow.db) --host 127.0.0.1 --port 5000 --workers 1
