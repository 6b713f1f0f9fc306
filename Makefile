# The README's two commands: `make run` (whole system locally) and `make test` (everything CI runs).
# Deploying (docs/deploy.md): `make deploy STAGE=prod`, or `make package STAGE=prod` for CloudFormation.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Stages that go to AWS. `local` only ever runs on the embedded AWS; any other name Chalice would create on the
# fly, with a generated (empty) policy.
DEPLOYED_STAGES := dev prod
STAGE ?=

.PHONY: venv run test test-fast lint package deploy stage-guard

DYNALITE := tools/dynalite/node_modules/.installed-stamp

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# dynalite (npm), a DynamoDB emulator that enforces the 400 KB item limit: the item-bound tests run on it.
$(DYNALITE): tools/dynalite/package.json tools/dynalite/package-lock.json
	npm ci --prefix tools/dynalite --silent --no-audit --no-fund
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# pytest with the bytecode cache on: without it every run compiles each test module (after pytest rewrites its
# asserts) and the project's modules again, 3 s of each process's 6 s of collection. __pycache__/ is ignored by git,
# and tools/precompile.py drops what `chalice package` copies of it.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest

# The whole suite in one process: tests/test_zz_iam_policy.py checks the AWS calls of every test, which a
# pytest-xdist worker sees only its share of.
test: lint $(DYNALITE)
	$(PYTEST)

# The unit tier, while working: no process, browser, stack or dynalite (tests/tiers.py marks those `subprocess`),
# and not the volume tests (`slow`), spread over a pytest-xdist worker per core. ruff first, as CI has it (a
# fraction of a second); not the lint target, whose slower checks (types) are `make test`'s.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(PYTEST) -m "not subprocess and not slow" -n auto

run: $(STAMP)
	$(BIN)/python -m tools.run_local $(if $(FRESH),--fresh)

stage-guard:
	$(if $(filter-out 1,$(words $(STAGE))),$(error STAGE must be one of: $(DEPLOYED_STAGES) (local is never deployed)))
	$(if $(filter $(STAGE),$(DEPLOYED_STAGES)),,$(error STAGE must be one of: $(DEPLOYED_STAGES), not '$(STAGE)' (local is never deployed)))

# A SAM/CloudFormation template (out/$(STAGE)/sam.json) that also creates the table, signing key and secret, and a
# zip with its modules' bytecode (tools/precompile.py: Lambda cannot cache what it compiles at a cold start), without
# the requirements' files no route reads (so that it stays under 10 MB).
package: stage-guard $(STAMP)
	rm -rf out/$(STAGE)
	$(BIN)/chalice package --stage $(STAGE) --merge-template deploy/resources.json out/$(STAGE)
	$(BIN)/python -m tools.precompile out/$(STAGE)/deployment.zip
	$(BIN)/cfn-lint out/$(STAGE)/sam.json

# Provision first (idempotent), so the function never starts without its table, key, secret or log retention.
deploy: stage-guard $(STAMP)
	$(BIN)/python -m tools.bootstrap --stage $(STAGE)
	$(BIN)/python -m tools.log_retention --stage $(STAGE)
	$(BIN)/chalice deploy --stage $(STAGE)

# Cold start, AWS calls per operation, sign-ins through the local stack, handler overhead, zip size: a few minutes.
# Writes docs/benchmarks.md and docs/benchmarks.json (bench/run.py says how each figure is measured).
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.run
