# The two commands of the quick start: `make demo` and `make test`.
# Each sets up what it needs by itself: system packages, a .venv, the Python packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck sysdeps clean

demo: $(STAMP)
	$(BIN)/ivr validate menus/12333.json
	$(BIN)/ivr demo menus/12333.json

# The whole suite: style (ruff), types (mypy --strict), then pytest.
test: lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ivr tests bench
	$(BIN)/ruff format --check ivr tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

sysdeps:
	@sh scripts/sysdeps.sh

$(STAMP): pyproject.toml scripts/sysdeps.sh
	@sh scripts/sysdeps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
