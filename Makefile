# The two commands of the quick start: `make demo` and `make test`.
# Each sets up what it needs by itself: system packages, a .venv, the Python packages.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck sysdeps clean translations

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

# The dashboard's catalogs: new words from the templates and views into each .po (to translate), then .mo.
ADMIN := ivr/web/admin
translations: $(STAMP)
	$(BIN)/pybabel extract -F $(ADMIN)/babel.cfg -k _l -o $(ADMIN)/messages.pot --no-location --project ivr --version 0 --msgid-bugs-address "the ivr issue tracker" $(ADMIN)
	$(BIN)/pybabel update -i $(ADMIN)/messages.pot -d $(ADMIN)/translations --width 120 --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d $(ADMIN)/translations
	rm -f $(ADMIN)/messages.pot

$(STAMP): pyproject.toml scripts/sysdeps.sh
	@sh scripts/sysdeps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
