# facequeue: `make run` runs the whole stack, `make test` runs the test suite.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system run test soak lint bench example clean

# System packages (redis-server, python3-venv, chromium, promtool) through the same script as
# .ci/run: installed when root, else the exact apt-get command and a stop.
system:
	bash .ci/system-packages $(SYSTEM_ARGS)

$(STAMP): pyproject.toml | system
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# make run needs no browser or promtool.
run: SYSTEM_ARGS = --run-only
run: system $(STAMP)
	$(BIN)/python -m devstack

test: system $(STAMP)
	$(BIN)/pytest -m "not soak" -n 4 --dist loadfile --durations=15

soak: system $(STAMP)
	$(BIN)/pytest -m soak -s

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench facequeue examples devstack
	$(BIN)/ruff format --check shared services tests bench facequeue examples devstack
	$(BIN)/mypy

# The example Dramatiq app (examples/orders.py) against the stack `make run` started:
# its worker runs until the sends are done and their results are in, then stops.
example: $(STAMP)
	FQ_REDIS_URL="$${FQ_REDIS_URL:-$$(cat .run/redis_url 2>/dev/null || echo redis://127.0.0.1:6379/0)}" \
		$(BIN)/python -m examples

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
