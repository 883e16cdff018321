# unet-ckpt: the two commands of the README, and their set-up.
#   make demo   build in release, inspect and verify the shipped example checkpoint
#   make test   run the test suite
#   make figures  redraw docs/images/paper-unet.svg and .png (installs librsvg2-bin for rsvg-convert if missing)
# Both install the Debian packages the project needs when they are missing (as root, or with sudo).

SYSTEM_PACKAGES := libhdf5-dev zlib1g-dev libdeflate-dev libopenblas-dev libpng-dev libtiff-dev pkg-config hdf5-tools python3-venv
EXAMPLE := fixtures/examples/paper-small.h5
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup build lint clean figures

setup:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: setup
	swift build -c release

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
