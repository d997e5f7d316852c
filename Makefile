# The README's two commands: `make demo` (main job) and `make test` (tests).
# Both create/reuse the CPU virtualenv in $(VENV) first (env/setup_cpu_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
WORK_DIR ?= work_dirs/demo_digits

.PHONY: env demo test

env:
	bash env/setup_cpu_env.sh $(VENV)

demo: env
	$(PY) tools/demo_digits.py --work-dir $(WORK_DIR)

test: env
	$(PY) -m pytest tests
