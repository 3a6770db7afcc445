# Support bot. `make help` lists the targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BOT    := $(VENV)/bin/python -m bot

.DEFAULT_GOAL := help
.PHONY: help venv install run test validate lint eval bench bench-hub bench-cluster bench-knowledge calibrate browser

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create the main environment (action server, tools)

install: venv ## install both environments, migrate, import the knowledge base, train if data changed
	$(BOT) install

run: venv ## install everything needed and start the whole system (Ctrl-C stops it)
	$(BOT) run

validate: install ## check data/, domain.yml, config.yml, tests/stories (rasa data validate, warnings fail; docs/editing.md)
	$(BOT) validate

test: validate lint browser ## install what is needed and run every test (unit, PostgreSQL, end-to-end, browser, Rasa test stories)
	$(VENV)/bin/python -m pytest --durations=25

lint: venv ## ruff (lint and format check)
	$(VENV)/bin/ruff check bot actions handoff tests
	$(VENV)/bin/ruff format --check bot actions handoff tests

eval: install ## held-out evaluations: knowledge-base search recall and NLU F1 (starts Rasa for the NLU part)
	$(BOT) eval search --compare
	$(BOT) eval nlu

calibrate: install ## refit the search's fusion weights and score calibration on training material
	$(BOT) kb calibrate

browser: ## Debian's Chromium for the browser tests (Playwright drives it; no browser downloads)
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

bench: install ## benchmark the REST channel, training, model load and memory; writes BENCHMARKS.md
	$(BOT) bench

bench-hub: install ## benchmark the hub: latency vs. Rasa, handoff-to-queue, relay, 1,000 claims on PostgreSQL
	$(VENV)/bin/python -m handoff bench

bench-cluster: venv ## benchmark the relay between two hub instances (Redis, PostgreSQL) against one
	$(VENV)/bin/python -m handoff bench-cluster

bench-knowledge: install ## benchmark the knowledge loop: approval -> bot uses the article; validation of data/
	$(VENV)/bin/python -m handoff bench-knowledge
