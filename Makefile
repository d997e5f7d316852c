# The README's two commands: `make demo` (main job) and `make test` (tests).
# Both create/reuse the CPU virtualenv in $(VENV) first (env/setup_cpu_env.sh).
# `make test-torch2.1`: the same suite on torch 2.1.2 (what mmseg 1.2.2 users
# run: mmcv 2.1's CUDA wheels stop there), in its own virtualenv.
# `make lint`: the pre-commit hooks (flake8, isort, yapf) on the whole tree.
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_TORCH21 ?= .venv-torch2.1
WORK_DIR ?= work_dirs/demo_digits

.PHONY: env demo test test-torch2.1 lint

env:
	bash env/setup_cpu_env.sh $(VENV)

demo: env
	$(PY) tools/demo_digits.py --work-dir $(WORK_DIR)

test: env
	$(PY) -m pytest tests

test-torch2.1:
	bash env/setup_cpu_env.sh $(VENV_TORCH21) 2.1.2
	$(VENV_TORCH21)/bin/python -m pytest tests

lint: env
	$(PY) -m pip install -q -r requirements/lint.txt
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure
