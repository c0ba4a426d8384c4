# bayesmeta: `make demo` sets everything up and runs an analysis; `make test` runs the suite.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench docs screenshots clean

setup: $(STAMP)

# Find a Python >= 3.12 on this machine (PATH first, then pyenv's installed versions)
# and install the package with its test tools into .venv.
$(STAMP): pyproject.toml
	@set -euo pipefail; \
	py=""; \
	pyroot=$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv"); \
	for c in python3.13 python3.12 python3 \
	         $$(ls -d "$$pyroot"/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV); do \
	  if command -v "$$c" >/dev/null 2>&1 && \
	     "$$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then \
	    py="$$c"; break; \
	  fi; \
	done; \
	if [ -z "$$py" ]; then echo "make: no Python >= 3.12 found (tried PATH and pyenv)" >&2; exit 1; fi; \
	echo "Using $$("$$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then rm -rf $(VENV); fi; \
	[ -x $(PY) ] || "$$py" -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip; \
	$(PY) -m pip install --quiet -e '.[test]'; \
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayesmeta fit models/ivig_response_tis20.toml

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check bayesmeta tests benchmarks docs
	$(VENV)/bin/ruff format --check bayesmeta tests benchmarks docs

bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/review.py
	$(PY) benchmarks/network.py

# Render the HTML reports in headless Chromium (apt-get install chromium) and fail on
# console errors; screenshots go to /tmp/bayesmeta-screenshots.
screenshots: $(STAMP)
	$(PY) benchmarks/screenshots.py /tmp/bayesmeta-screenshots

docs: $(STAMP)
	$(PY) docs/make_figures.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
