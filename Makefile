# The README's two commands: `make demo` (main job) and `make test` (tests).
# Both create/reuse the CPU virtualenv in $(VENV) first (env/setup_cpu_env.sh).
# `make lint`: the pre-commit hooks (flake8, isort, yapf) on the whole tree.
VENV ?= .venv
PY := $(VENV)/bin/python
WORK_DIR ?= work_dirs/demo_digits

.PHONY: env demo test lint

env:
	bash env/setup_cpu_env.sh $(VENV)

demo: env
	$(PY) tools/demo_digits.py --work-dir $(WORK_DIR)

test: env
	$(PY) -m pytest tests

lint: env
	$(PY) -m pip install -q -r requirements/lint.txt
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure
