# Roamline. `make demo` and `make test` set up everything they need (scripts/bootstrap.sh).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bootstrapped
STRICT := -p roamline.errors -p roamline.wire -p roamline.board -p roamline.firmware -p roamline.cloud
LOOSE  := -p roamline.provisioning -p roamline.hil -p roamline.cli

.PHONY: deps demo test unit lint wheel-smoke bench fuzz fuzz-corpus image-test clean

deps: $(STAMP)

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	touch $@

demo: $(STAMP)
	$(VENV)/bin/roamline demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy $(STRICT)
	$(VENV)/bin/mypy $(LOOSE)

# The whole suite in one process by default. PYTEST_JOBS=2 runs it in pytest-xdist workers: --dist
# loadfile with tests/conftest.py keeps each module in one worker (module-scoped rigs are built once) and
# hands out the real-box modules first (--no-loadscope-reorder: in that order, not by test count). Not
# the default: on a 2-core machine two workers' real-time audio checks failed where the serial run
# passes (docs/status.md, "make test's workers").
PYTEST_JOBS ?= 0
PYTEST := $(PY) -P -m pytest -q -n $(PYTEST_JOBS) --dist loadfile --no-loadscope-reorder

# Lint, the package as users get it, then the whole suite (its summary stays the last line). -P: the
# repository root is not on sys.path (tests import the installed package, never a bare room name).
test: lint
	scripts/wheel_smoke.sh
	$(PYTEST)

# The suite without lint, for quick iterations.
unit: $(STAMP)
	$(PYTEST)

# Build the sdist and the wheel, install the wheel in a fresh venv, run a command of every room there.
wheel-smoke: $(STAMP)
	scripts/wheel_smoke.sh

bench: $(STAMP)
	$(VENV)/bin/roamline bench register --json
	$(VENV)/bin/roamline bench line --json
	$(VENV)/bin/roamline bench handset --json
	$(VENV)/bin/roamline bench flash --json
	$(VENV)/bin/roamline bench resample --json
	$(VENV)/bin/roamline bench calls --json
	$(VENV)/bin/roamline bench e911 --json
	$(VENV)/bin/roamline bench box --json

# Coverage-guided fuzzing (atheris) of every parser facing a device, a card or the network; not part of
# `make test` (which replays fuzz/corpus). FUZZ_RUNS inputs per harness; FUZZ_JOBS harnesses at once.
FUZZ_RUNS ?= 1000000
FUZZ_JOBS ?= 1
fuzz: $(STAMP)
	FUZZ_JOBS=$(FUZZ_JOBS) $(PY) fuzz/run.py -runs=$(FUZZ_RUNS)

# After `make fuzz`: merge the inputs that added coverage into fuzz/corpus (then commit them).
fuzz-corpus: $(STAMP)
	$(PY) fuzz/run.py --minimize

# Build the sim board's image from Debian arm64 (cached in ~/.cache/roamline-image), flash it with an
# enrolled identity, boot it under qemu-system-aarch64 and check the firmware's link reaches a registry
# on this machine. Slow (minutes under emulation); not part of `make test`. KEEP=1 keeps its folder.
image-test: $(STAMP)
	scripts/bootstrap.sh --image
	$(PY) -P scripts/image_test.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
