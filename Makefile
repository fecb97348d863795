# trackdesk: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HEADLESS := .venv-headless
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-headless test-docker bench screenshots lint clean sysdeps-x11 bundle smoke-bundle

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# compat mode: a plain path entry; the default finder hook costs every worker ~0.1 s
	$(BIN)/pip install -q -e ".[test,bench]" --config-settings editable_mode=compat
	# every worker imports trackdesk anew: cached bytecode saves each ~25 ms of compiling,
	# also where PYTHONDONTWRITEBYTECODE keeps Python from writing it itself
	$(BIN)/python -m compileall -q trackdesk
	touch $(STAMP)

## open the desktop app on the default tracks.db (created when missing)
run: $(STAMP)
	$(BIN)/trackdesk

## the whole suite, Qt offscreen; Docker tests against a real engine (started if needed)
test: $(STAMP)
	bash scripts/test.sh

## the engine's tests in an environment without PySide6 (the engine must not need Qt)
test-headless:
	test -x $(HEADLESS)/bin/python || $(PYTHON) -m venv $(HEADLESS)
	$(HEADLESS)/bin/pip install -q --upgrade pip
	$(HEADLESS)/bin/pip install -q "sqlalchemy>=2" numpy pandas psutil docker aiohttp lxml fitdecode pytest pytest-timeout hypothesis
	$(HEADLESS)/bin/pip install -q --no-deps -e .
	! $(HEADLESS)/bin/python -c "import PySide6" 2>/dev/null
	PYTHONPATH=. $(HEADLESS)/bin/python -m pytest -q -p no:qt tests/engine tests/test_layers.py

lint: $(STAMP)
	$(BIN)/ruff check trackdesk tests bench devtools
	# the engine and the protocol (issue 22)
	$(BIN)/python -m mypy trackdesk/engine trackdesk/protocol.py
	# the worker runtime, its spec and its old names (issue 22): strict, stdlib only
	$(BIN)/python -m mypy --strict trackdesk/worker trackdesk/tracks/spec.py trackdesk/skills/sdk.py trackdesk/skills/spec.py

bench: $(STAMP)
	bash scripts/bench.sh

sysdeps-x11:
	bash scripts/sysdeps-x11.sh

screenshots: $(STAMP) sysdeps-x11
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m devtools.screenshots docs/screenshots
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m devtools.monitor_screenshots docs/screenshots
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m devtools.live_screenshots docs/screenshots
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m devtools.place_screenshots docs/screenshots
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m devtools.zone_screenshots docs/screenshots

## a one-folder app in dist/trackdesk that runs without the venv
bundle: $(STAMP)
	$(BIN)/pip install -q "pyinstaller>=6.0"
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist \
		--workpath build/pyinstaller packaging/pyinstaller/trackdesk.spec

## build the bundle, open a track file in it under Xvfb, see the import complete
smoke-bundle: $(STAMP)
	bash scripts/smoke-bundle.sh

clean:
	rm -rf $(VENV) $(HEADLESS) build dist *.egg-info
