# ebpf.bcc developer tasks. `make help` lists them.
#
# Adding a test target (e.g. molecule, guests): put it in mk/<name>.mk, which
# this Makefile includes, as
#
#     TEST_TARGETS += guests
#     .PHONY: guests
#     guests: $(SETUP_DEP)
#     	<commands>
#
# `make test` then runs it after the targets listed here, in include order
# (mk/*.mk sorted by name). Commands run with .venv/bin first on PATH and
# ANSIBLE_COLLECTIONS_PATH pointing at this checkout's collection tree.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/build/collections
COLLECTION_DIR := $(COLLECTIONS)/ansible_collections/ebpf/bcc

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

# Test targets `make test` runs, in this order. Extend it with `TEST_TARGETS += x`.
TEST_TARGETS := unit integration sanity lint changelog-lint

# Every target that needs the tools depends on $(SETUP_DEP); `make test` runs
# setup once and then its targets with SKIP_SETUP=1.
SETUP_DEP := $(if $(SKIP_SETUP),,setup)

-include $(sort $(wildcard mk/*.mk))

.PHONY: help setup test demo unit integration sanity lint changelog-lint clean distclean

help:
	@echo 'make demo            set up, then run playbooks/demo.yml on localhost'
	@echo 'make test            set up, then run every test target: $(TEST_TARGETS)'
	@echo 'make setup           apt packages, .venv, collection tree, then the install role on localhost'
	@echo 'make test-kernels    kernel-function tests on all three Debian guest kernels'
	@echo 'make molecule        the install role on fresh Debian 11/12/13 roots'
	@echo 'make unit            pytest tests/unit'
	@echo 'make integration     pytest tests/integration (root, real BPF)'
	@echo 'make sanity          ansible-test sanity --python 3.11'
	@echo 'make lint            ansible-lint --offline (production profile)'
	@echo 'make changelog-lint  antsibull-changelog lint'
	@echo 'make clean           remove build/ and test output; distclean also .venv'

setup:
	@scripts/setup.sh

test: setup
	@failed=; \
	for t in $(TEST_TARGETS); do \
	    echo; echo "=== make $$t"; \
	    if $(MAKE) SKIP_SETUP=1 $$t; then status=PASS; else status=FAIL; failed="$$failed $$t"; fi; \
	    echo "$$status $$t" >> build/test-logs/.recap.new; \
	done; \
	echo; echo "=== make test recap"; \
	while read -r status t; do \
	    extra=; [[ ! -f build/test-logs/$$t.summary ]] || extra=" ($$(sed "s/^$$t: //" build/test-logs/$$t.summary))"; \
	    echo "$$status $$t$$extra"; \
	done < build/test-logs/.recap.new; \
	rm -f build/test-logs/.recap.new; \
	if [[ -n $$failed ]]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: all targets passed: $(TEST_TARGETS)"

test: | build/test-logs
build/test-logs:
	@mkdir -p $@

demo: $(SETUP_DEP)
	@if [[ ! -f playbooks/demo.yml ]]; then \
	    echo 'make demo: playbooks/demo.yml does not exist yet; the demo playbook has not been written.' >&2; exit 1; \
	fi
	$(BIN)/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=/usr/bin/python3 playbooks/demo.yml

unit: $(SETUP_DEP)
	@scripts/pytest-dir.sh unit tests/unit

integration: $(SETUP_DEP)
	@scripts/pytest-dir.sh integration tests/integration

# ansible-test must run from inside ansible_collections/<namespace>/<name>, but
# it resolves the working directory through the symlink to this checkout, so
# it is also told the collection path (ANSIBLE_TEST_CONTENT_ROOT, which
# ansible-test itself sets when it delegates). Its per-test virtualenvs
# bootstrap pip offline: see scripts/ansible-test-offline.sh.
sanity: $(SETUP_DEP)
	cd $(COLLECTION_DIR) && ANSIBLE_TEST_CONTENT_ROOT=$(COLLECTION_DIR) \
	    $(BIN)/ansible-test sanity --python 3.11 --color no

lint: $(SETUP_DEP)
	$(BIN)/ansible-lint --offline --profile production

changelog-lint: $(SETUP_DEP)
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

clean:
	rm -rf build tests/output .pytest_cache

distclean: clean
	rm -rf $(VENV)
