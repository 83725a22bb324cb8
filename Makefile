# Two commands do everything: `make run` (default offline cartpole search) and `make test`.
# Each creates the project venv (.venv) with every dependency on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: run test test-fast lint setup clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV) $(PYTHON)
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/eureka $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(ARGS)

# unit and component tests (<= 5 minutes on 2 cores); `make test` also runs the e2e and slow ones
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not e2e" $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun
