# unet-ckpt: the two commands of the README, and their set-up.
#   make demo   build in release, inspect and verify the shipped example checkpoint
#   make test   run the test suite
# Both install the Debian packages the project needs when they are missing (as root, or with sudo).

SYSTEM_PACKAGES := libhdf5-dev zlib1g-dev libopenblas-dev pkg-config hdf5-tools python3-venv
EXAMPLE := fixtures/examples/paper-small.h5
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup build lint clean

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

lint:
	swift format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build
