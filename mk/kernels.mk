# make test-kernels: kernel-function counting on all three stock Debian kernels
# (11: 5.10, 12: 6.1, 13: 6.12), booted one at a time under qemu by tests/guests.
# `make test` runs the same tests on the Debian 12 guest only (the default of
# EBPF_BCC_GUEST_SUITES), as part of `make integration`.
.PHONY: test-kernels
test-kernels: $(SETUP_DEP)
	@EBPF_BCC_GUEST_SUITES=all scripts/pytest-dir.sh test-kernels tests/integration/kernels
