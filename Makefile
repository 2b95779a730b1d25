# errlib — the two commands a newcomer needs are `make course` and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= default
STAMP   := $(VENV)/.installed
SWEEP_STAMP := $(VENV)/.installed-sweep
JOBS    ?=
SEEDS   ?=

.PHONY: setup course test test-all bench clean-runs notebooks slides results-page

# The virtual environment, rebuilt only when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

# Sweep-time extras (Dask, for `sweep --scheduler`), kept out of requirements.txt; the tests need them.
$(SWEEP_STAMP): $(STAMP) requirements-sweep.txt
	$(PY) -m pip install -r requirements-sweep.txt
	touch $(SWEEP_STAMP)

# Run the course notebooks (papermill) on a profile: make course PROFILE=smoke|default|full [JOBS=N] [SEEDS=N]
# (one task table: notebooks and the stage calls ahead of them, by their dependencies, up to
# JOBS processes of one thread each, default one per core; JOBS=1 runs one at a time).
# SEEDS=1: one seed for Part I (n_seeds: 04, 07), Part II (part2_seeds: 05) and the planted control
# (planted_seeds: 08) instead of the profile's (a class with a
# time budget; docs/guide.md), into <runs>/course/<profile>-seeds<N>/ so the two runs never mix.
course: $(STAMP)
	$(PY) -m errlib.run.course run --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) \
		$(if $(SEEDS),-p n_seeds $(SEEDS) -p part2_seeds $(SEEDS) -p planted_seeds $(SEEDS) --out $${ERRLIB_RUNS:-data/runs}/course/$(PROFILE)-seeds$(SEEDS))

# Unit tests (with a 2-worker Dask cluster for the sweep), then every notebook on the smoke profile;
# tests marked `slow` (end-to-end benchmark runs, minutes each) only in `make test-all`.
test: $(STAMP) $(SWEEP_STAMP)
	$(PY) -m pytest -m "not slow"

test-all: $(STAMP) $(SWEEP_STAMP)
	$(PY) -m pytest

# Benchmarks (benchmarks/README.md): make bench [BENCH_ARGS="--baseline REV --course-results PATH"]
# (or "--quick" for a smoke test). torchattacks is a benchmark-only dependency, installed here on
# first use without its pins (see requirements-bench.txt).
bench: $(STAMP)
	$(PY) -c "import torchattacks" 2>/dev/null || $(PY) -m pip install --no-deps -r requirements-bench.txt
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean-runs:
	rm -rf data/runs

# Rebuild each notebooks/NN_*.ipynb from its paired percent-format source NN_*.py (edit the .py;
# a test checks the pair is in sync). Outputs stay stripped.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --to ipynb --update notebooks/[0-9][0-9]_*.py

# reveal.js slide decks from the notebooks (executed copies of the last `make course` run when
# present, so figures are in) into data/runs/slides/, with a local reveal.js so they open offline.
slides: $(STAMP)
	$(PY) -c "import importlib.util as u; raise SystemExit(u.find_spec('sphinx_revealjs') is None)" || $(PY) -m pip install --no-deps -r requirements-slides.txt
	$(PY) -m errlib.run.site slides --profile $(PROFILE)

# docs/results.md and the README's headline table, rendered from the recorded run docs/results.json;
# RUN=<a course run's results.json> records that run there first (docs/guide.md, "Recording a run").
results-page: $(STAMP)
	$(PY) -m errlib.run.results_page $(if $(RUN),--record $(RUN))
