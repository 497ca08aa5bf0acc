# make book | make test | make test-kernels | make study | make clean   (README.md says what each does)
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

# The numerical tests (fits, bootstrap, optimiser, laws), run again by `make test-kernels` under other BLAS
# kernels than the CPU's own: a result must not depend on which kernels OpenBLAS picks (Intel or AMD).
NUMERICS_TESTS := tests/test_fit.py tests/test_fits.py tests/test_comparisons.py tests/test_supervised_study.py \
                  tests/test_distillation_study.py tests/test_optimal.py tests/test_laws.py tests/test_practice.py \
                  tests/test_chapter_trusting_the_fit.py
# Sandybridge (AVX) and Nehalem (SSE) kernels run on every x86-64 machine and differ from the AVX2 (Haswell,
# Zen) and AVX-512 (SkylakeX) kernels a modern CPU picks by itself.
KERNELS ?= Sandybridge Nehalem

.PHONY: book test test-kernels lint study clean distclean venv

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

test-kernels: $(STAMP)
	@for k in $(KERNELS); do \
	    echo "== numerics tests with OPENBLAS_CORETYPE=$$k, 2 BLAS threads"; \
	    OPENBLAS_CORETYPE=$$k OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
	        $(BIN)/python -m pytest -q -p no:cacheprovider $(NUMERICS_TESTS) || exit 1; \
	done

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
