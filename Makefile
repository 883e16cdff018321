# unet-ckpt: the two commands of the README, and their set-up.
#   make demo   build in release, inspect and verify the shipped example checkpoint
#   make test   run the test suite
#   make figures  redraw docs/images/paper-unet.svg and .png (installs librsvg2-bin for rsvg-convert if missing)
#   make bench  the benchmark against h5py, torch, onnxruntime and OpenVINO (docs/performance.md)
#   make install [PREFIX=/usr/local] [DESTDIR=]  the release binary, its man page and bash, zsh and
#               fish completions; make uninstall removes exactly those files
#   make docs   the DocC documentation of every library product, warnings as errors
# All install the Debian packages the project needs when they are missing (as root, or with sudo).

SYSTEM_PACKAGES := libhdf5-dev zlib1g-dev libdeflate-dev libopenblas-dev libdnnl2 libpng-dev libtiff-dev libnifti2-dev pkg-config hdf5-tools python3-venv
EXAMPLE := fixtures/examples/paper-small.h5
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The peers' Python (torch, h5py, onnxruntime, openvino, monai: several GB), made once outside the repository.
BENCH_VENV ?= $(HOME)/.cache/unet-ckpt/bench-venv
BENCH_PYTHON ?= $(BENCH_VENV)/bin/python
BENCH_ARGS ?=

# Where `make install` puts things: the usual places under PREFIX, staged under DESTDIR.
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_ROOT = $(DESTDIR)$(PREFIX)
INSTALLED_FILES := bin/unet-ckpt share/man/man1/unet-ckpt.1 share/bash-completion/completions/unet-ckpt \
  share/zsh/site-functions/_unet-ckpt share/fish/vendor_completions.d/unet-ckpt.fish
# The man page's date: the last commit's, so that the same sources give the same page. The
# plugin builds the package in MANUAL_CONFIGURATION first (the page is the same from either; CI's
# check uses the debug build its tests already made).
MANUAL_DATE ?= $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
MANUAL_CONFIGURATION ?= release
STAGE := .build/install-stage

# The libraries whose DocC catalogs `make docs` builds, warnings as errors. DOCS_LENIENT (none now)
# would be built with their warnings shown but allowed.
DOC_TARGETS := UNetCheckpoint UNetFormats UNetInference UNetDrawing UNetImages UNetONNX UNetBioImage UNetPipelines
DOCS_LENIENT ?=

.PHONY: demo test setup build lint clean figures bench install uninstall check-install docs

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

# The man page comes from swift-argument-parser's generate-manual plugin, which builds the
# package (in release: dynamically linked) and reads `unet-ckpt --experimental-dump-help`; the
# statically linked binary is linked after it, so that it is the one installed.
install: setup
	swift package generate-manual --configuration $(MANUAL_CONFIGURATION) --date $(MANUAL_DATE)
	swift build -c release --static-swift-stdlib
	rm -rf $(STAGE) && mkdir -p $(STAGE)
	@# A blank line inside a subcommand's discussion is a paragraph: mdoc's .Pp, not an empty line.
	sed 's/^$$/.Pp/' .build/plugins/GenerateManual/outputs/unet-ckpt/unet-ckpt.1 > $(STAGE)/unet-ckpt.1
	for shell in bash zsh fish; do \
	  .build/release/unet-ckpt --generate-completion-script $$shell > $(STAGE)/completion.$$shell || exit 1; \
	done
	install -d $(INSTALL_ROOT)/bin $(INSTALL_ROOT)/share/man/man1 $(INSTALL_ROOT)/share/bash-completion/completions \
	  $(INSTALL_ROOT)/share/zsh/site-functions $(INSTALL_ROOT)/share/fish/vendor_completions.d
	install -m 755 .build/release/unet-ckpt $(INSTALL_ROOT)/bin/unet-ckpt
	install -m 644 $(STAGE)/unet-ckpt.1 $(INSTALL_ROOT)/share/man/man1/unet-ckpt.1
	install -m 644 $(STAGE)/completion.bash $(INSTALL_ROOT)/share/bash-completion/completions/unet-ckpt
	install -m 644 $(STAGE)/completion.zsh $(INSTALL_ROOT)/share/zsh/site-functions/_unet-ckpt
	install -m 644 $(STAGE)/completion.fish $(INSTALL_ROOT)/share/fish/vendor_completions.d/unet-ckpt.fish
	@echo "installed under $(INSTALL_ROOT): $(INSTALLED_FILES)"

uninstall:
	rm -f $(addprefix $(INSTALL_ROOT)/,$(INSTALLED_FILES))

# `make install` into a fresh prefix and out again (.ci/check-install; CI runs it).
check-install: setup
	@$(MAKE) --no-print-directory setup SYSTEM_PACKAGES="man-db groff-base bsdextrautils"
	bash .ci/check-install

# Into .build/plugins/Swift-DocC/outputs/<target>.doccarchive.
docs: setup
	swift package generate-documentation $(addprefix --target ,$(filter-out $(DOCS_LENIENT),$(DOC_TARGETS))) \
	  --warnings-as-errors
	$(if $(strip $(DOCS_LENIENT)),swift package generate-documentation $(addprefix --target ,$(DOCS_LENIENT)))
