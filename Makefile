# The two commands a new user needs are `make demo` and `make test`; both set themselves up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck synth synth-cli layers bench security clean

$(STAMP): pyproject.toml setup.py loglake/_linehead.c client_lib/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ./client_lib -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/loglake demo

# The suite, then lint and types: CI runs exactly this (.ci/run).
test: $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The CDK app: `python app.py` synthesises into cdk.out/ (no Docker, no AWS credentials); cdk-nag findings fail it.
synth: $(STAMP)
	$(PY) app.py

# Pre-build the Lambda layers (the dependency layer downloads its pinned wheels once, then is cached in build/).
layers: $(STAMP)
	$(PY) -m layers

# The same synthesis through the CDK CLI, pinned to aws-cdk 2 by package.json (aws-cdk 3 cannot read it).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

synth-cli: $(STAMP) node_modules/.package-lock.json
	npx --no-install cdk synth --quiet --no-notices

# checkov pins an old boto3, so it gets its own virtual environment; every failed check fails the target,
# and every skipped one carries its justification in the template's metadata.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov==3.3.30"
	touch $@

security: synth $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --compact \
		$(foreach t,$(wildcard cdk.out/*.template.json),--file $(t))

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) cdk.out build node_modules lake .pytest_cache .hypothesis .mypy_cache .ruff_cache
