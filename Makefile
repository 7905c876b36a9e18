# hull: build, demo, tests, benchmark. Everything runs as root (containers need it).
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)
# hull is built for musl (.cargo/config.toml says why); rustup adds the target's standard library
# when it is missing.
RUST_TARGET := x86_64-unknown-linux-musl
HULL_RELEASE := target/$(RUST_TARGET)/release/hull
ROOTFS := bundles/busybox/rootfs

.PHONY: all rust-target build release rootfs demo test test-fresh test-attacks soak fuzz fuzz-smoke cargo-fuzz unit bench bench-instructions bench-cgroupv2 hot-functions clean test-clients test-cgroupv2

all: build

rust-target:
	@ls "$$(rustc --print target-libdir --target $(RUST_TARGET))"/libstd-*.rlib > /dev/null 2>&1 || rustup target add $(RUST_TARGET) || \
	  { echo "hull is built for $(RUST_TARGET): add its standard library (rustup target add $(RUST_TARGET))" >&2; exit 1; }

build: rust-target
	$(CARGO) build

release: rust-target
	$(CARGO) build --release

$(ROOTFS)/bin/busybox:
	bundles/build-rootfs.sh $(ROOTFS)

rootfs: $(ROOTFS)/bin/busybox

# What each set-up command needs from Debian (FILE=PACKAGE, see scripts/ensure-packages.sh):
# busybox for the rootfs, gcc and libc6-dev (its libc.a the check) for the build scripts, the
# linker driver and the tests' tools.
DEMO_PACKAGES := /bin/busybox=busybox-static /usr/lib/x86_64-linux-gnu/libc.a=libc6-dev gcc=gcc
# tini as the tests' subreaper, ip (netdevices tests), ps (hull ps), criu (checkpoint/restore).
TEST_PACKAGES := $(DEMO_PACKAGES) tini=tini ip=iproute2 ps=procps newuidmap=uidmap criu=criu

# Build hull and the busybox bundle, then run a container that prints its hostname, its pid and
# its namespaces. Installs what it needs first (as root with apt), or says what to install.
demo:
	@scripts/ensure-packages.sh "make demo" $(DEMO_PACKAGES)
	$(MAKE) release rootfs
	cd bundles/busybox && ../../$(HULL_RELEASE) --root /run/hull-demo run demo-$$$$

# Unit and integration tests (as root). tini reaps orphaned container inits promptly: the
# machine's PID 1 reaps them only about a second late.
test:
	@scripts/ensure-packages.sh "make test" $(TEST_PACKAGES)
	$(MAKE) build
	tini -s -- $(CARGO) test --workspace -- --test-threads=4

# The attack suite alone (tests/attacks/: one module per known runtime CVE class); `make test`
# runs it too.
test-attacks: build
	tini -s -- $(CARGO) test --test attacks -- --test-threads=4

# Soak: SOAK_N lifecycles in a row (default 1000) and eight threads racing the verbs on one id
# (SOAK_RACE_OPS each), and the status of running containers derived SOAK_STATUS_N times each under
# CPU and fork load; nothing may leak. `make test` runs a short version (40 lifecycles).
SOAK_N ?= 1000
SOAK_RACE_OPS ?= 200
SOAK_STATUS_N ?= 1000
soak: build
	SOAK_N=$(SOAK_N) SOAK_RACE_OPS=$(SOAK_RACE_OPS) SOAK_STATUS_N=$(SOAK_STATUS_N) tini -s -- $(CARGO) test --test soak -- --nocapture --include-ignored

# The README's two set-up commands, extracted from README.md, on a freshly debootstrapped minimal
# Debian 12 (cached in /var/cache/hull-test-fresh) with only gcc, make, git, ca-certificates and
# the host's Rust toolchain: see tests/fresh/run.sh.
test-fresh:
	tests/fresh/run.sh

# Coverage-guided fuzzing of config.json loading, state.json loading and argument normalisation
# (fuzz/fuzz_targets/), with cargo-fuzz and libFuzzer under AddressSanitizer. The machine has only
# the stable toolchain: RUSTC_BOOTSTRAP=1 unlocks the nightly flags cargo-fuzz passes.
# `make fuzz` runs each target FUZZ_SECONDS (default 1200: an hour for the three) and grows the
# corpus in fuzz/corpus/; `make fuzz-smoke` (CI) runs each for 30 s on a copy of it.
FUZZ_TARGETS := config state args
FUZZ_SECONDS ?= 1200
FUZZ_ENV := RUSTC_BOOTSTRAP=1
cargo-fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
fuzz: cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_ENV) $(CARGO) fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	  $(FUZZ_ENV) $(CARGO) fuzz cmin $$t corpus/$$t || exit 1; done
fuzz-smoke: cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  new=$$(mktemp -d) && $(FUZZ_ENV) $(CARGO) fuzz run $$t $$new corpus/$$t -- -max_total_time=30 || { rm -rf $$new; exit 1; }; rm -rf $$new; done

# Pure cgroup v2 lane: the cgroup integration tests inside a QEMU VM (software emulation) whose
# only hierarchy is cgroup2, for this cgroup v1 hybrid host; also checkpoint/restore (CRIU works
# on the VM's kernel, with iptables, ip and tar from the host). VM_TESTS="cgroups ..." picks the test
# targets, VM_FILTER=NAME is passed to them, VM_TIMEOUT (s) bounds the VM. See tests/vm/.
test-cgroupv2:
	@scripts/install-qemu.sh
	@scripts/ensure-packages.sh "make test-cgroupv2" $(TEST_PACKAGES) systemd=systemd /usr/bin/python3=python3 /usr/sbin/xtables-nft-multi=iptables podman=podman conmon=conmon
	VM_TESTS="$(VM_TESTS)" VM_FILTER="$(VM_FILTER)" VM_TIMEOUT="$(VM_TIMEOUT)" tests/vm/run-cgroupv2.sh

# Real clients end to end (containerd+ctr, dockerd, podman+conmon, Kubernetes CRI), each lane with
# its own daemons in private temp dirs on private sockets: see tests/clients/README.md.
# HULL_CLIENTS_RUNTIME=/usr/sbin/runc runs the same scenarios against runc.
CLIENT_PACKAGES := $(TEST_PACKAGES) containerd=containerd dockerd=docker.io podman=podman conmon=conmon \
	jq=jq /usr/sbin/runc=runc protoc=protobuf-compiler /usr/lib/python3/dist-packages/grpc=python3-grpcio \
	/usr/lib/python3/dist-packages/google/protobuf=python3-protobuf script=bsdutils
test-clients:
	@scripts/ensure-packages.sh "make test-clients" $(CLIENT_PACKAGES)
	$(MAKE) release
	tini -s -- tests/clients/run-all.sh

# OCI conformance: conformance (hull), conformance-compare (hull, runc, crun → docs/conformance.md),
# conformance-ci (fails only on cases that fail for hull but pass for runc).
include oci-conformance/conformance.mk

BENCH_PACKAGES := $(DEMO_PACKAGES) hyperfine=hyperfine jq=jq /usr/sbin/runc=runc crun=crun \
	/usr/bin/time=time valgrind=valgrind
# BENCH_N: containers present for the state and list figures.
BENCH_N ?= 1000

# run and the lifecycle, the other verbs, RSS, CPU, sizes and instructions, against runc and
# crun in one run: docs/benchmarks.md and its charts.
bench:
	@scripts/ensure-packages.sh "make bench" $(BENCH_PACKAGES)
	$(MAKE) release rootfs
	ROUNDS=10 bench/bench.sh $(HULL_RELEASE) 300 > target/bench-timing.txt && cat target/bench-timing.txt
	bench/suite.sh $(HULL_RELEASE) target/bench-figures.txt $(BENCH_N)
	bench/breakdown.sh $(HULL_RELEASE) 30 > target/bench-breakdown.txt && cat target/bench-breakdown.txt
	$(MAKE) bench-cgroupv2
	bench/report.sh target/bench-timing.txt target/bench-figures.txt docs target/bench-breakdown.txt target/bench-v2.txt

# hull against crun on pure cgroup v2, timed inside the cgroup v2 VM lane (software emulation).
bench-cgroupv2:
	@scripts/install-qemu.sh
	@scripts/ensure-packages.sh "make bench-cgroupv2" $(TEST_PACKAGES) systemd=systemd /usr/bin/python3=python3 \
		crun=crun hyperfine=hyperfine jq=jq
	bench/vm-v2.sh 3 10 > target/bench-v2.txt && cat target/bench-v2.txt

# Profile the functions on a container's path (perf) into bench/hot-functions.txt, which the
# linker places first in .text (scripts/link-hot-first.sh). Rerun when that path changes.
hot-functions:
	@scripts/ensure-packages.sh "make hot-functions" $(DEMO_PACKAGES) jq=jq perf=linux-perf
	$(MAKE) rootfs
	bench/hot-functions.sh

# Instructions per verb against bench/instructions.txt (CI): more than 10 % above fails.
bench-instructions:
	@scripts/ensure-packages.sh "make bench-instructions" $(DEMO_PACKAGES) jq=jq valgrind=valgrind
	$(MAKE) release rootfs
	bench/instructions.sh $(HULL_RELEASE) --check bench/instructions.txt

clean:
	$(CARGO) clean
	rm -rf $(ROOTFS)
