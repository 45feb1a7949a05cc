# avfh: two commands on a fresh machine.
#   make reproduce   install into .venv, then run every notebook with the default preset (course) and report
#   make test        install into .venv, then lint, check Jupytext pairs, unit tests, notebooks (papermill + nbval)
#   make dashboard   serve the ablation panels with Voila on 127.0.0.1 (PORT=8866)
# Variables: PRESET (reproduce), ARGS (extra `avfh reproduce` arguments), PYTHON (the interpreter for the venv).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PRESET ?= course
ARGS   ?=
NB     ?=
PORT   ?= 8866
export PYTHONHASHSEED = 0

.PHONY: install reproduce test lint unit notebooks nbval refresh dashboard clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[all]"
	$(BIN)/python -m ipykernel install --sys-prefix --name avfh --display-name "Python (avfh)"
	touch $@

reproduce: install
	$(BIN)/avfh reproduce --preset $(PRESET) $(ARGS)

test: install lint unit notebooks nbval

lint: install
	$(BIN)/ruff check avfh_core notebooks tests benchmarks
	$(BIN)/avfh check-sync

unit: install
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadscope tests

# every notebook end to end under papermill with the smoke preset (sidecars written; a failure fails the target)
notebooks: install
	$(BIN)/avfh reproduce --preset smoke --run-id ci-smoke --quiet --force

# nbval: the same notebooks re-parameterised to smoke, preset-independent cells compared with the references
nbval: install
	$(BIN)/python -m avfh_core.reproduce.nbcheck --preset smoke --out runs/nbval
	OMP_NUM_THREADS=1 AVFH_FIGURES=runs/nbval/figures $(BIN)/pytest -n 2 --dist loadscope -p no:cacheprovider \
		--nbval-lax --nbval-kernel-name avfh --sanitize-with .nbval_sanitize.cfg --nbval-cell-timeout 300 \
		runs/nbval

# re-execute a notebook with its own defaults (course preset) and rewrite its paired .ipynb reference
refresh: install
	$(BIN)/avfh refresh $(NB)

# the ablation panels (notebooks/common/03_dashboard) served by Voila on http://127.0.0.1:$(PORT)/
dashboard: install
	$(BIN)/avfh dashboard --port $(PORT)

clean:
	rm -rf runs .pytest_cache .ruff_cache
