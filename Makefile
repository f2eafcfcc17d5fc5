# The whole set-up: `make demo` and `make test`. Everything the tests need is installed here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo lint bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[sim,test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/troupe demo

# Long randomized fault runs: 1,000 commands each, at three seeds (replay one with SEEDS=n).
SEEDS ?= 1 2 3
chaos: $(STAMP)
	mkdir -p artifacts
	for seed in $(SEEDS); do \
	  $(PY) tests/chaos.py --seed $$seed --commands 1000 --json artifacts/chaos-$$seed.json || exit 1; \
	done

bench: $(STAMP)
	$(PY) -m slackmq.bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
