# The commands of docs/api.md ("Commands"). `make run` and `make test` do all
# set-up on a fresh machine (through `make setup`, idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: setup run test unit e2e smoke lint bench clean

# The browser's Python: the app and the wire contract it shares with the stub.
FRONTEND_PY := $(shell find frontend contract sse_client -name '*.py' -not -path '*/__pycache__/*')

setup: $(VENV)/.installed vendor/.stamp.json system-packages vendor/.pyodide-build vendor/.frontend-bytecode frontend.zip

# Python dependencies, pinned (requirements.txt).
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# PyScript + Pyodide from npm, pydantic's Pyodide wheels from PyPI (tools/vendor.py).
vendor/.stamp.json: tools/vendor.py $(VENV)/.installed
	$(PY) tools/vendor.py

# Byte-code for the browser wheels and the Pyodide memory snapshot the page
# boots from, made in Chromium's Pyodide (tools/pyodide_build.py).
vendor/.pyodide-build: tools/pyodide_build.py frontend/snapshots.mjs vendor/.stamp.json | system-packages
	$(PY) tools/pyodide_build.py
	touch $@

# The app's modules as browser byte-code, carried by frontend.zip in place of
# their sources while those are unchanged (a stale one is only slower).
vendor/.frontend-bytecode: $(FRONTEND_PY) tools/pyodide_build.py vendor/.pyodide-build
	$(PY) tools/pyodide_build.py --frontend
	touch $@

# The app's package in one archive, for static hosting (the stub builds its own
# on request; tools/bundle.py).
frontend.zip: $(FRONTEND_PY) vendor/.frontend-bytecode tools/bundle.py | $(VENV)/.installed
	$(PY) tools/bundle.py

# Debian's Chromium (the browser of the end-to-end tests), Firefox ESR and
# WebKitGTK's WebDriver with Xvfb (the three-engine smoke suite), and nginx with
# its brotli_static module (deploy/nginx.conf, the deploy tests), if missing.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v firefox-esr >/dev/null 2>&1 || missing="$$missing firefox-esr"; \
	[ -x /usr/bin/WebKitWebDriver ] || missing="$$missing webkit2gtk-driver"; \
	command -v Xvfb >/dev/null 2>&1 || missing="$$missing xvfb"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -f /usr/lib/nginx/modules/ngx_http_brotli_static_module.so ] || missing="$$missing libnginx-mod-http-brotli-static"; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	$(PY) -m backend_stub --host $(HOST) --port $(PORT)

# Ruff, then mypy (its settings and which modules are strict: pyproject.toml).
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy

unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

e2e: setup
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# The main path in Chromium, Firefox ESR and WebKitGTK (about a minute).
smoke: setup
	$(PY) -m pytest tests/smoke $(PYTEST_ARGS)

test: setup lint
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)
	$(PY) -m pytest tests/smoke $(PYTEST_ARGS)

# The JS SSE clients the throughput is measured against: pinned npm packages
# only the benchmark loads (tools/vendor.py --bench-js, bench/js_clients.py).
vendor/bench-js/.stamp.json: tools/vendor.py | $(VENV)/.installed
	$(PY) tools/vendor.py --bench-js

# `make bench` runs everything; `python -m bench throughput replay` only those
# browser sections (python -m bench --help).
bench: setup vendor/bench-js/.stamp.json
	$(PY) -m bench

clean:
	rm -rf $(VENV) vendor var .pytest_cache .ruff_cache .mypy_cache test-results frontend.zip frontend.zip.br frontend.zip.gz
