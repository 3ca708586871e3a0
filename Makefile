# The two newcomer commands: `make demo` (run the real node on a synthetic camera) and
# `make test` (the whole test suite). Both build .venv from nothing on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# DDS stays on this machine (Jazzy reads the first, Humble only the second). Each make
# invocation draws a random domain (1-100), and the test harness puts every node it starts under
# a namespace holding its process id, so two `make test` runs on one host do not exchange
# messages even when their domains coincide (1 in 100); only the demo tests use the demo's fixed
# topic names and could then hear each other.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_LOCALHOST_ONLY ?= 1
ifndef ROS_DOMAIN_ID
ROS_DOMAIN_ID := $(shell shuf -i 1-100 -n 1)
endif
export ROS_DOMAIN_ID
export OMP_NUM_THREADS ?= 2
# Where torch comes from. Empty: the package index pip is set up with (on PyPI, torch for Linux
# x86-64 is the CUDA build, several GB). For the small CPU-only wheel:
#   make demo TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
TORCH_INDEX ?=

.PHONY: test demo venv clean bench

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, from TORCH_INDEX (see above), so the package's own `torch`
	# requirement below is already met
	$(PY) -m pip install -q torch==2.13.0 $(TORCH_INDEX)
	# every CPU backend, so CI tests onnxruntime and openvino too
	$(PY) -m pip install -q -e '.[test,onnx,openvino]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/depth-anything-ros demo --out demo_output

bench: $(STAMP)
	$(PY) bench/model_cpu.py

clean:
	rm -rf $(VENV) build *.egg-info demo_output
