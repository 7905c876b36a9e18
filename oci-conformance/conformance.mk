# Make targets for the OCI runtime-spec conformance suite.
# Include from the top-level Makefile:   include oci-conformance/conformance.mk
#
#   make conformance          run the suite against hull (non-zero exit if any case fails)
#   make conformance-compare  run it against hull, runc and crun, as root and rootless (each
#                             runtime also as an unprivileged test user: "NAME rootless"
#                             columns); writes docs/conformance.md
#   make conformance-rootless run it against hull as an unprivileged test user (--rootless;
#                             the user is created and removed by the run)
#   make conformance-ci       run it against hull and runc; non-zero exit only for cases
#                             that fail for hull but pass for runc

CARGO            ?= cargo
OCI_CONFORMANCE  ?= target/x86_64-unknown-linux-musl/release/oci-conformance
HULL_BIN         ?= target/x86_64-unknown-linux-musl/release/hull
RUNC_BIN         ?= /usr/sbin/runc
CRUN_WRAPPER     ?= oci-conformance/crun-wrapper.sh
# rootless, crun runs as the test user directly (the wrapper's unshare --mount needs root)
CRUN_BIN         ?= /usr/bin/crun
CONFORMANCE_JOBS ?= 3
CONFORMANCE_ARGS ?=

.PHONY: oci-conformance conformance conformance-compare conformance-ci conformance-rootless conformance-rootless-ci

oci-conformance: rust-target
	@scripts/ensure-packages.sh "make $(MAKECMDGOALS)" $(CONFORMANCE_PACKAGES) $(RUNC_BIN)=runc crun=crun
	$(CARGO) build --release -p oci-conformance

CONFORMANCE_PACKAGES := /bin/busybox=busybox-static /usr/lib/x86_64-linux-gnu/libc.a=libc6-dev \
	setpriv=util-linux useradd=passwd newuidmap=uidmap

conformance: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS)

conformance-compare: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) compare --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS) \
		--runtime hull=$(HULL_BIN) --runtime runc=$(RUNC_BIN) --runtime crun=$(CRUN_WRAPPER) \
		--with-rootless --rootless-runtime crun=$(CRUN_BIN) \
		--output docs/conformance.md

conformance-rootless: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --rootless --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS)

conformance-ci: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS) \
		--compare-with-runc $(RUNC_BIN)

# The same gate with the runtimes run by an unprivileged user.
conformance-rootless-ci: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --rootless --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS) \
		--compare-with-runc $(RUNC_BIN)
