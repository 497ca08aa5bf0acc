# make book | make test | make study | make clean   (README.md says what each does)
#
#   make book                                           every chapter with its default parameters, then the site
#   make book NOTEBOOK=01_laws_as_published PARAMS=my.yaml   re-run one chapter with new parameters, rebuild
#   make book PROFILE=smoke OUT=/tmp/book                a quick throw-away copy of the book
#   make study ARGS="..."                               train whatever run records are missing

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install: the environment is rebuilt when requirements.txt or pyproject.toml
# is newer than it (or when it is missing).
STAMP := $(VENV)/.installed

BOOK_ARGS := $(if $(NOTEBOOK),--only $(NOTEBOOK)) $(if $(PARAMS),--params-file $(PARAMS)) \
             $(if $(PROFILE),--profile $(PROFILE)) $(if $(OUT),--out $(OUT))

.PHONY: book test lint study clean distclean venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m distill_scaling book $(BOOK_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

study: $(STAMP)
	$(BIN)/python -m distill_scaling study $(ARGS)

# Generated files only: the environment, the committed data and the training cache (.cache/) stay.
clean:
	rm -rf _build book/executed book/figures test-artifacts .pytest_cache .ruff_cache
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +

# Also the environment (the next make rebuilds it, ~2 min).
distclean: clean
	rm -rf $(VENV)
