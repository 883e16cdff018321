# unet-ckpt: the two commands of the README, and their set-up.
#   make demo   build in release, inspect and verify the shipped example checkpoint
#   make test   run the test suite
#   make figures  redraw docs/images/paper-unet.svg and .png (installs librsvg2-bin for rsvg-convert if missing)
#   make bench  the benchmark against h5py, torch, onnxruntime and OpenVINO (docs/performance.md)
# All install the Debian packages the project needs when they are missing (as root, or with sudo).

SYSTEM_PACKAGES := libhdf5-dev zlib1g-dev libdeflate-dev libopenblas-dev libdnnl2 libpng-dev libtiff-dev libnifti2-dev pkg-config hdf5-tools python3-venv
EXAMPLE := fixtures/examples/paper-small.h5
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The peers' Python (torch, h5py, onnxruntime, openvino, monai: several GB), made once outside the repository.
BENCH_VENV ?= $(HOME)/.cache/unet-ckpt/bench-venv
BENCH_PYTHON ?= $(BENCH_VENV)/bin/python
BENCH_ARGS ?=

.PHONY: demo test setup build lint clean figures bench

setup:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Swift's runtime and Foundation linked statically: a process starts in about 14 ms instead of
# 20 (every command runs as two processes, docs/robustness.md).
build: setup
	swift build -c release --static-swift-stdlib

demo: build
	.build/release/unet-ckpt inspect $(EXAMPLE)
	.build/release/unet-ckpt verify $(EXAMPLE)

test: setup
	swift test

# The paper's network (docs/images/paper-unet.json) drawn by unet-ckpt, and its PNG for the README.
figures: build
	@command -v rsvg-convert >/dev/null || { echo "installing: librsvg2-bin"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq librsvg2-bin >/dev/null; }
	.build/release/unet-ckpt draw docs/images/paper-unet.json docs/images/paper-unet.svg
	rsvg-convert -w 1200 docs/images/paper-unet.svg -o docs/images/paper-unet.png

lint:
	swift format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build

bench: build
	@[ -x "$(BENCH_PYTHON)" ] || { echo "making the peers' environment in $(BENCH_VENV) (torch is several GB)"; \
	  python3 -m venv "$(BENCH_VENV)" && "$(BENCH_VENV)/bin/pip" install -q -r Sources/unet-ckpt-bench/requirements.txt; }
	.build/release/unet-ckpt-bench --python "$(BENCH_PYTHON)" $(BENCH_ARGS)
