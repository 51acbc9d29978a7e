# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py $(LOCK) | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck bench services clean lock

# Every package comes from the lock, pinned with hashes (pip itself included), so a fresh
# machine installs what main was tested with; the project goes in on top without resolving.
$(STAMP): pyproject.toml setup.py $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	PYTHONWARNINGS="ignore:Editable installation" \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	rm -f $(VENV)/.installed-*
	touch $@

# `make lock` pins what pyproject.toml added or changed and keeps every other pin;
# `make lock UPGRADE=--upgrade` moves everything to today's PyPI on purpose (then run make test).
UPGRADE ?=
lock: $(STAMP)
	$(BIN)/pip-compile --quiet $(UPGRADE) --extra dev --generate-hashes --allow-unsafe \
		--strip-extras --no-header --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	@# the dev extra names the project itself (otel-perf[sidecar,asgi]); it is installed by -e ., not pinned
	awk '/^# (WARNING: pip install will require|Consider using a hashable URL)/ {next} \
		/^otel-perf @ / {skip = 1; next} skip && /^    / {next} {skip = 0; print}' $(LOCK) > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

run: $(STAMP)
	$(BIN)/otel-perf run $(ARGS)

# System services the tests use (none yet for the foundation; later issues add
# Redis, Prometheus, Alertmanager, Chromium here, from Debian's packages).
services:
	./.ci/services.sh

test: $(STAMP) services
	$(BIN)/ruff check .
	./.ci/typecheck.sh
	./.ci/importlint.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	./.ci/importlint.sh

typecheck: $(STAMP)
	./.ci/typecheck.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks.ingest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
