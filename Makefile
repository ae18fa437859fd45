# The two commands a newcomer types: `make serve` and `make test`.
# Both set everything up first: Debian packages (when root), the virtualenv, the project.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test serve install bench api-check fuzz clean translations

install: $(STAMP)

$(STAMP): pyproject.toml packaging/debian-packages.txt
	./packaging/install-debian-packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The whole suite, on every core (pytest-xdist; tests sharing something outside their own temporary
# folder carry an xdist_group and stay on one worker). WORKERS=1 for one process; PYTEST_ARGS=… to add.
# One worker more than there are cores: many tests wait on a server, a peer or a browser they
# started, and the extra worker runs meanwhile (on two cores: e2e 266 → 232 s, integration 294 → 250 s).
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): every
# `edigate serve` and CLI process the suite starts then imports compiled modules, not source.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The gateway on its embedded defaults: SQLite + payloads under var/, huey on SQLite,
# development certificates under certs/ (generated), waitress on 127.0.0.1:8080.
serve: $(STAMP)
	$(BIN)/edigate serve

# The REST API against its own OpenAPI description: schemathesis (every check, valid and invalid
# requests) with many more examples per operation than the suite's run; EXAMPLES=… to change.
EXAMPLES ?= 300
api-check: $(STAMP)
	EDIGATE_API_CHECK_EXAMPLES=$(EXAMPLES) EDIGATE_API_CHECK_SEED=$${SEED:-$$(date +%s)} \
		$(BIN)/pytest -q -p no:cacheprovider tests/integration/test_api_schemathesis.py

# The parsers and writers under a long coverage-guided run (atheris, one process, nice'd): FUZZ_RUNS
# inputs over EDIFACT, UBL, CII, CSV, Factur-X, CDAR, Invoice Response and SBDH seeded with the shared corpus; fuzz-report/ gets
# report.txt, report.json and every input that crashed, hung (10 s per phase) or took over 1 GiB.
# FUZZ_ARGS='--resume --weights ubl=3,csv=1' goes on from the folder and shares the runs unequally.
FUZZ_RUNS ?= 1000000
FUZZ_STAMP := $(VENV)/.fuzz-stamp
$(FUZZ_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test,fuzz]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	nice -n 10 $(BIN)/python tests/fuzz/run.py --runs $(FUZZ_RUNS) --out fuzz-report $(FUZZ_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/translate.py
	$(BIN)/python bench/edifact.py
	$(BIN)/python bench/as2.py
	$(BIN)/python bench/as4.py
	$(BIN)/python bench/sftp.py
	$(BIN)/python bench/process.py
	$(BIN)/python bench/campaign.py
	$(BIN)/python bench/web_load.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/indicators.py

# French and English: extract what the code marks (babel.cfg) into gateway/translations/fr/LC_MESSAGES/messages.po,
# then list what is left to translate (fuzzy or empty entries). Only the .po is committed: gateway/i18n.py
# compiles it in memory when a process first needs it, so no .mo can lag behind its .po.
translations: $(STAMP)
	$(BIN)/python tools/translations.py update

clean:
	rm -rf $(VENV) build *.egg-info
