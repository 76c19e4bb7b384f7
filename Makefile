# One entry point for people and CI. Every target installs what is missing first and is
# safe to run twice: Debian headers via apt, Python packages into .venv from PyPI.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
JOBS      ?= 2
FUZZ_SECS ?= 20
APT_PKGS  := libeigen3-dev libboost-dev libgtest-dev clang libclang-rt-14-dev chromium postgresql ccache
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYBIND_DIR = $(shell $(PY) -m pybind11 --cmakedir)
# Filters pip -v output of a build down to "[3/24] cpp/src/trend.cpp" per compiled file,
# the errors, and pip's last line.
BUILD_PROGRESS = awk '/^ *\[[0-9]+\/[0-9]+\]/ { f = $$NF; sub(/^.*\/cpp\//, "cpp/", f); \
  print $$1, f; fflush(); next } /[Ee]rror|Successfully|Saved/ { print; fflush() }'

.PHONY: help deps apt venv install dev cpp-test asan-test fuzz pytest typecheck lint \
        format test report bench calibrate clean wheel

help:
	@echo "make report  - build and write build/report.html from the bundled sample telemetry"
	@echo "make test    - C++ tests (plain and ASan+UBSan), fuzzing, pytest, notebooks, mypy, ruff"
	@echo "make bench   - benchmarks against named peers, results in benchmarks/results/"
	@echo "make calibrate - every decision's error rate by simulation: benchmarks/results/calibration.json"
	@echo "make dev     - in-place build of perfstats._core for PYTHONPATH=python work"
	@echo "make wheel   - dist/perfstats-*.whl, installable without a compiler"

# ---- set-up -------------------------------------------------------------------------
deps: apt venv

# Install the Debian packages only when one of them is missing (apt-get update once first).
apt:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

# Non-editable install into .venv: what users get from `pip install .`. The compile takes
# minutes on a busy 2-core machine, so its progress is shown (scikit-build-core's
# verbose build: one line per compiled file) instead of minutes of silence.
install: deps
	@echo "building perfstats._core (C++, a few minutes on 2 cores; progress below)"
	$(PY) -m pip install --no-build-isolation --no-deps \
	  --config-settings=build.verbose=true -v . 2>&1 \
	  | $(BUILD_PROGRESS) ; \
	  exit $${PIPESTATUS[0]}

# A wheel built once installs without a compiler or Debian dev packages (Eigen and Boost
# are header-only and compiled in; Parquet codecs come with pyarrow).
wheel: deps
	$(PY) -m pip wheel --no-build-isolation --no-deps -w dist \
	  --config-settings=build.verbose=true -v . 2>&1 \
	  | $(BUILD_PROGRESS) ; \
	  exit $${PIPESTATUS[0]}

# In-place build: perfstats/_core*.so next to the sources, for PYTHONPATH=python runs.
dev: deps
	cmake -S . -B build/dev -G Ninja -DPERFSTATS_BUILD_PYTHON=ON -DPERFSTATS_INPLACE=ON \
	  -DPython_EXECUTABLE=$(abspath $(PY)) -Dpybind11_DIR=$(PYBIND_DIR) >/dev/null
	cmake --build build/dev -j $(JOBS)

# ---- tests ----------------------------------------------------------------------------
cpp-test: deps
	cmake -S . -B build/cpp -G Ninja -DPERFSTATS_BUILD_TESTS=ON -DPERFSTATS_WERROR=ON >/dev/null
	cmake --build build/cpp -j $(JOBS)
	ctest --test-dir build/cpp --output-on-failure -j $(JOBS)

asan-test: deps
	cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPERFSTATS_BUILD_TESTS=ON -DPERFSTATS_SANITIZE=ON >/dev/null
	cmake --build build/asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build/asan --output-on-failure -j $(JOBS)

# Each libFuzzer target runs FUZZ_SECS seconds from a seed corpus of committed fixtures;
# the targets run side by side (the wall time of one), each reported when it ends.
fuzz: deps
	CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPERFSTATS_FUZZ=ON >/dev/null
	cmake --build build/fuzz -j $(JOBS)
	@set -e; pids=""; names=""; for f in build/fuzz/fuzz_*; do \
	  [ -x $$f ] || continue; name=$$(basename $$f); \
	  corpus=build/fuzz/corpus/$$name; mkdir -p $$corpus; \
	  cp -f tests/fixtures/*.bin cpp/fuzz/corpus/*.bin $$corpus/ 2>/dev/null || true; \
	  echo "fuzzing $$name for $(FUZZ_SECS) s"; \
	  $$f -max_total_time=$(FUZZ_SECS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
	    -artifact_prefix=build/fuzz/ $$corpus 2> build/fuzz/$$name.log & \
	  pids="$$pids $$!"; names="$$names $$name"; \
	done; \
	failed=0; set -- $$names; for p in $$pids; do \
	  if wait $$p; then echo "$$1: $$(grep -E "^Done|^#[0-9]+.*DONE" build/fuzz/$$1.log | tail -1)"; \
	  else echo "$$1 FAILED:"; tail -40 build/fuzz/$$1.log; failed=1; fi; shift; \
	done; exit $$failed

pytest: install
	$(PY) -m pytest -q -m "not slow"

typecheck: install
	$(PY) -m mypy
	$(PY) -m mypy.stubtest perfstats._core --allowlist tests/stubtest-allowlist.txt

lint: venv
	$(PY) -m ruff check python tests benchmarks
	$(PY) -m ruff format --check python tests benchmarks

format: venv
	$(PY) -m ruff format python tests benchmarks
	$(PY) -m ruff check --fix python tests benchmarks

test: cpp-test asan-test fuzz lint typecheck pytest

# ---- products -------------------------------------------------------------------------
report: install
	@mkdir -p build
	$(PY) -m perfstats report --sample -o build/report.html

bench: install
	$(PY) -m benchmarks.run

calibrate: install
	$(PY) benchmarks/calibrate.py

clean:
	rm -rf build python/perfstats/_core*.so
