# Make targets for the OCI runtime-spec conformance suite.
# Include from the top-level Makefile:   include oci-conformance/conformance.mk
#
#   make conformance          run the suite against hull (non-zero exit if any case fails)
#   make conformance-compare  run it against hull, runc and crun; writes docs/conformance.md
#   make conformance-ci       run it against hull and runc; non-zero exit only for cases
#                             that fail for hull but pass for runc

CARGO            ?= cargo
OCI_CONFORMANCE  ?= target/x86_64-unknown-linux-gnu/release/oci-conformance
HULL_BIN         ?= target/x86_64-unknown-linux-gnu/release/hull
RUNC_BIN         ?= /usr/sbin/runc
CRUN_WRAPPER     ?= oci-conformance/crun-wrapper.sh
CONFORMANCE_JOBS ?= 3
CONFORMANCE_ARGS ?=

.PHONY: oci-conformance conformance conformance-compare conformance-ci

oci-conformance:
	@scripts/ensure-packages.sh "make $(MAKECMDGOALS)" $(CONFORMANCE_PACKAGES) $(RUNC_BIN)=runc crun=crun
	$(CARGO) build --release -p oci-conformance

CONFORMANCE_PACKAGES := /bin/busybox=busybox-static /usr/lib/x86_64-linux-gnu/libc.a=libc6-dev

conformance: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS)

conformance-compare: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) compare --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS) \
		--runtime hull=$(HULL_BIN) --runtime runc=$(RUNC_BIN) --runtime crun=$(CRUN_WRAPPER) \
		--output docs/conformance.md

conformance-ci: oci-conformance
	$(CARGO) build --release --bin hull
	$(OCI_CONFORMANCE) --runtime hull=$(HULL_BIN) --jobs $(CONFORMANCE_JOBS) $(CONFORMANCE_ARGS) \
		--compare-with-runc $(RUNC_BIN)
