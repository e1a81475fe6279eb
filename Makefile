# kernel-agent — see README.md. Targets: build test fuzz e2e qemu bench bench-build demo demo-full man schemas lint install; e2e-arm64 qemu-arm64 (parts of e2e and qemu, alone).
CARGO      ?= cargo
PREFIX     ?= /usr/local
DEMO_ROOT  ?= /var/tmp/kernel-agent-demo
RELEASE    := target/release
DEBUG      := target/debug
# The commands come from commands.txt, the one list (crates/ka-man/tests/registry.rs
# holds the binaries, scripts and man pages to it).
WRAPPERS   := $(addprefix bin-wrappers/,$(shell awk '$$2 == "verb" { print $$1 }' commands.txt))
STAGES     := $(shell awk '$$2 == "stage" { print $$1 }' commands.txt)

.PHONY: all build deps test unit fuzz wrappers kernel lint e2e qemu bench bench-build demo demo-full man schemas install clean

all: build

build:
	$(CARGO) build --release --workspace --bins

deps:
	scripts/debian-deps

# The README's test command (and what .ci/run calls).
test: deps lint unit wrappers kernel

unit:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

# The property tests (every `fuzz_*` test: the patch parser and engine, the
# mbox splitter, the probe language, the YAML loaders, the stage JSON
# readers, Gitea's answers: tests/fuzz.rs of each crate in FUZZED) with many
# more generated cases than the 256 of `make test`. A failure prints the
# minimized input: make it a named #[test] beside the property, then fix.
FUZZ_CASES ?= 20000
FUZZED     := ka-apply ka-schema ka-gitea ka-probe ka-tree
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release $(addprefix -p ,$(FUZZED)) --test fuzz

# Wrapper tests: real binaries, real git, a small synthetic fleet.
wrappers:
	$(CARGO) build --workspace --bins
	PATH="$(CURDIR)/$(DEBUG):$(CURDIR)/bin-wrappers:$$PATH" bats tests/wrappers

# The example fleet against Debian's linux-source-6.1: every host promotes, and
# ka-check agrees with sequential git apply on a checked-out tree.
kernel:
	$(CARGO) build --release --workspace --bins
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" bats tests/kernel

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	shellcheck -x bin-wrappers/* scripts/* .ci/run tests/bench/*.sh tests/sshd/start-sshd tests/support/site-state \
		$(filter-out %.bats %.rs %.md,$(wildcard tests/qemu/*))
	shellcheck -x -s bash -e SC2154 tests/*/*.bats tests/e2e/lib.bash  # SC2154: bats sets $$output, $$stderr

# The build pipeline with real parts: sshd on loopback as the build host,
# Debian's makepkg as kbuild, a small kernel from linux-source-6.1.
e2e: deps qemu
	$(CARGO) build --release --workspace --bins
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" bats tests/e2e

# The qemu test hosts (tests/qemu/README.md): build the cached images once per
# machine (x86_64, and the arm64 board: qemu virt, U-Boot, our device tree),
# boot them through U-Boot + extlinux, reboot = power cycle, a missing kernel,
# a panic, U-Boot without fdt_addr_r; then the Rust harness. Root, TCG,
# minutes; KA_QEMU_ARM64=0 leaves the arm64 board out.
qemu: deps
	bats tests/qemu
	$(CARGO) test -p ka-testkit --test qemu_guest -- --ignored

# The arm64 board alone (tests/qemu/arm64.bats).
.PHONY: qemu-arm64
qemu-arm64: deps
	bats tests/qemu/arm64.bats

# The aarch64 path end to end alone (tests/e2e/arm64.bats, also in make e2e):
# curie cross-built, published, installed, verified, and the no-fdt_addr_r fault.
.PHONY: e2e-arm64
e2e-arm64: deps
	$(CARGO) build --release --workspace --bins
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" bats tests/e2e/arm64.bats

bench: build
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" tests/bench/run.sh

# ka-build against bare makepkg; cold, clean with a warm ccache, incremental
# after a one-patch change and after a config change (falls back to clean),
# as ratios of cold; the reproducibility check (~45 minutes; KA_BENCH_BARE=0
# leaves out the bare makepkg build).
bench-build: build deps
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" tests/bench/build.sh

# Prepare the baseline and promote the example fleet into $(DEMO_ROOT), then
# render its site (ka-site) into $(DEMO_ROOT)/site.
demo: deps build
	@mkdir -p "$(DEMO_ROOT)"
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" KA_ROOT="$(DEMO_ROOT)" KA_REPO="$(CURDIR)" \
		ka-promote --all; status=$$?; \
		PATH="$(CURDIR)/$(RELEASE):$$PATH" KA_ROOT="$(DEMO_ROOT)" KA_REPO="$(CURDIR)" \
		ka-site --out "$(DEMO_ROOT)/site" || status=$$?; \
		echo; echo "state: $(DEMO_ROOT)  (cumulative.patch, manifest.lock and the checked config under hosts/<host>/promoted/)"; \
		echo "site:  $(DEMO_ROOT)/site/index.html  (open it in a browser; ka-site(1))"; \
		exit $$status

# The whole loop on one machine (scripts/demo-full): the example x86_64 host
# higgs as higgs-demo, promoted, built on a loopback sshd, published with a
# throwaway key, installed on the qemu board and verified, each step's state
# printed. Root, ~10 min with the qemu image cached (the first time adds its
# build). Everything under DEMO_ROOT (here /var/tmp/kernel-agent-demo-full
# unless DEMO_ROOT is given).
demo-full: deps build
	PATH="$(CURDIR)/$(RELEASE):$(CURDIR)/bin-wrappers:$$PATH" \
		DEMO_ROOT="$(if $(filter command line environment,$(origin DEMO_ROOT)),$(DEMO_ROOT),/var/tmp/kernel-agent-demo-full)" \
		scripts/demo-full

man:
	$(CARGO) run -q -p ka-man -- man

schemas:
	KA_UPDATE_SCHEMAS=1 $(CARGO) test -q -p ka-man --test schemas

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(addprefix $(RELEASE)/,$(STAGES)) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(WRAPPERS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 bin-wrappers/ka-lib.sh $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	$(CARGO) clean
