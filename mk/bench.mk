# Benchmarks and the PyTorch the YOLO cross-backend tests need (owner: GPU/throughput).
#   make bench          full run: streams 1,4,16,64 (YOLOv3 + torch on a GPU machine)
#   make bench-short    under a minute on a 2-core CPU: streams 1,4
# Extra flags: make bench BENCH_ARGS="--mesh-variant no-retry='--attempts 1'"
.PHONY: bench bench-short
BENCH_ARGS ?=
TORCH_VERSION ?= 2.13.0

bench: install models
	$(PY) -m meshtools.bench --model-dir $(MODEL_DIR) --json build/bench.json $(BENCH_ARGS)

bench-short: install models
	$(PY) -m meshtools.bench --short --model-dir $(MODEL_DIR) --json build/bench-short.json $(BENCH_ARGS)

# The pinned version installs a CPU build from local disk; an unpinned torch would pull a
# multi-GB CUDA build. A torch that is already there (a GPU machine's CUDA build) is kept.
$(VENV)/.torch: | $(STAMP)
	$(PY) -c 'import torch' 2>/dev/null || $(PIP) install -q torch==$(TORCH_VERSION)
	touch $@

TEST_DEPS += $(VENV)/.torch
