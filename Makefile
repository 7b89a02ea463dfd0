# Set-up and the two quick-start jobs. `make demo` / `make test` create .venv on first use and
# reinstall when pyproject.toml changes. TORCH pins the CPU wheel that this project's machines hold;
# elsewhere use e.g. `make test PIP_TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu"`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PIP_TORCH_ARGS ?=
PROFILE ?= quick
JOBS ?= 2
STAMP := $(VENV)/.fdlf-installed

.PHONY: reproduce demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet $(PIP_TORCH_ARGS) "$(TORCH)"
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	# an editable install skips pyproject's data-files (setuptools #3399): link the Voila template and its
	# default-template config into the environment, as a regular install copies them
	mkdir -p $(VENV)/share/jupyter/voila/templates $(VENV)/etc/jupyter
	ln -sfn "$(CURDIR)/widgets/share/voila/templates/fdlf" $(VENV)/share/jupyter/voila/templates/fdlf
	ln -sf "$(CURDIR)/widgets/share/voila.json" $(VENV)/etc/jupyter/voila.json
	touch $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/fdlf reproduce --profile $(PROFILE) --jobs $(JOBS)

demo: $(STAMP)
	$(VENV)/bin/fdlf demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) .pytest_cache
