# Two commands on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact set the suite last passed with (every extra included); `make lock` refreshes it.
LOCK := requirements.lock
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.7.0

.PHONY: quickstart test install lock chromium benchmark clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel on local disk; anything else pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet -c $(LOCK) torch
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	$(BIN)/pip check
	touch $(STAMP)

# Resolve pyproject.toml's ranges afresh (the newest releases that install beside torch 2.13.0) into the lock.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet $(PIP_TOOLS)
	$(LOCK_VENV)/bin/pip-compile --quiet --strip-extras --extra harness --extra qlora --extra test \
	    --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml

install: $(STAMP)

# The main job: the default study (every method on the synthetic domain, side by side).
quickstart: $(STAMP)
	$(BIN)/adaptlab study run --out runs/study

# The study report's test screenshots the page in headless Chromium: Debian's package, installed when absent.
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
	    sudo=""; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi; \
	    $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

benchmark: $(STAMP)
	$(BIN)/python benchmarks/pretrain.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) runs .pytest_cache
