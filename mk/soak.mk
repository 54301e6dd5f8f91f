# Reliability: the soak/load tool and the fuzz suite's modes (docs/reliability.md).
# `make test` runs the fuzz suite in its CI profile (thousands of inputs, ~1 minute) and a
# few-second soak smoke test; the long modes below run only when asked for.
#   make soak                       local mesh, SOAK_STREAMS robots then twice as many, bounded
#   make soak SOAK_SECONDS=600      a longer soak
#   make soak SOAK_ARGS='--mode legacy --target 10.0.0.5:50051'
#   make fuzz-long                  the fuzz suite with ten times the examples
SOAK_SECONDS ?= 60
SOAK_WARMUP ?= 30
# Robots at step 1 and the aggregator's in-flight limit: on a 2-core machine the mesh serves
# about two frames at once, so 2 robots is the load it can serve and the ramp's step 2 twice that.
SOAK_STREAMS ?= 2
SOAK_RAMP ?= 1,2
SOAK_MAX_IN_FLIGHT ?= $(SOAK_STREAMS)
SOAK_JSON ?= out/soak.json
SOAK_ARGS ?=

.PHONY: soak fuzz fuzz-long
soak: install models
	$(PY) -m meshtools.soak --model-dir $(MODEL_DIR) --seconds $(SOAK_SECONDS) --warmup $(SOAK_WARMUP) \
		--streams $(SOAK_STREAMS) --ramp $(SOAK_RAMP) \
		--service-arg aggregator=--max-in-flight=$(SOAK_MAX_IN_FLIGHT) --json $(SOAK_JSON) $(SOAK_ARGS)

fuzz: install models
	LIQUIDEDGE_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)

fuzz-long: install models
	LIQUIDEDGE_FUZZ=long LIQUIDEDGE_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)
