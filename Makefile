# The two commands that do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= ./var
# Debian packages the test suite drives as real clients (libnet-ssleay-perl gives swaks its TLS).
DEB_PACKAGES := swaks libnet-ssleay-perl fetchmail getmail6 chromium isync offlineimap3 clamav-daemon rspamd

.PHONY: run test install debian lint bench clean

run: install
	@test -d $(DATA) || $(BIN)/arobase init $(DATA) --demo
	$(BIN)/arobase --data $(DATA) serve

test: install debian
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

debian:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing"; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

lint: install
	$(BIN)/ruff check src tests bench

bench: install
	$(BIN)/python bench/store_delivery.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
