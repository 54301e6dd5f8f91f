# Fault-injection suite (tests/faults): the mesh as real processes, each in its own network
# namespace on a veth-and-bridge switch the test builds, with SIGKILL/SIGSTOP, tc link faults
# and an aggregator restart. The namespace and tc cases need root and iproute2 (`ip`, `tc`);
# iproute2 is installed from Debian's registry when it is missing and we are root. Without
# them those cases skip with their reason, and the same cases still run on loopback.
#   make faults    just this suite, verbose, with its figures in the summary

.PHONY: faults faults-tools
faults-tools:
	@if command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "faults: installing iproute2 (ip, tc) for the namespace cases"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; } \
			|| echo "faults: iproute2 install failed; the namespace cases will skip" >&2; \
	else echo "faults: no ip/tc here and no root to install iproute2; the namespace cases will skip" >&2; fi

TEST_DEPS += faults-tools

faults: install models faults-tools
	LIQUIDEDGE_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest tests/faults -v $(PYTEST_ARGS)
