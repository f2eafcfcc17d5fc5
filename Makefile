# The whole set-up: `make demo` and `make test`. Everything the tests need is installed here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TESTDEPS := $(VENV)/.test-deps
CHROMIUM := /usr/bin/chromium

.PHONY: install test demo lint bench chaos clean

# An editable install of a package-dir mapping (plugins/ -> troupe_plugins) makes setuptools print
# a note ("Editable installation ... Please be careful with folders ..."), not a problem: hush it.
# Real warnings still show; tests/test_packaging.py builds the wheel and wants none.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[sim,test]'
	touch $(STAMP)

install: $(STAMP)

# What only the tests need: Playwright for Python and Debian's Chromium (apt, as root, when
# missing) for the demo's browser test, and matplotlib for the bench report's test.
$(TESTDEPS): $(STAMP)
	$(PIP_INSTALL) -e '.[sim,test,browser,bench]'
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; \
	  else \
	    echo "note: $(CHROMIUM) is missing and this is not root: the browser test will be skipped" \
	         "(sudo apt-get install chromium)"; \
	  fi; \
	fi
	touch $(TESTDEPS)

test: $(STAMP) $(TESTDEPS)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The page on http://127.0.0.1:8080 (or a free port when 8080 is taken); PORT=8081 picks one.
PORT ?=
demo: $(STAMP)
	$(VENV)/bin/troupe demo $(if $(PORT),--port $(PORT))

# Long randomized fault runs: 1,000 commands each, at three seeds (replay one with SEEDS=n).
# REAL=1: as Slack would treat the house (its rate limits, 50 ms per Web API call), 500 each.
SEEDS ?= 1 2 3
REAL ?=
COMMANDS ?= $(if $(REAL),500,1000)
chaos: $(STAMP)
	mkdir -p artifacts
	for seed in $(SEEDS); do \
	  $(PY) tests/chaos.py --seed $$seed --commands $(COMMANDS) $(if $(REAL),--real) \
	    --json artifacts/chaos-$$seed$(if $(REAL),-real).json || exit 1; \
	done

# Latency, calls, lock, throughput, takeover, rolling update, memory: bench/results.md + latency.png.
# The lock alone, against slackmq 0.1.2: python -m bench.lock (bench/lock.py).
bench: $(STAMP)
	$(PIP_INSTALL) -e '.[sim,test,bench]'
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
