# Models that change while the mesh runs (issue 13; docs/modelstore.md).
#   make swap-bench     4 lock-step streams through the mesh with YOLO served from a model store:
#                       a retrained version promoted (failed frames, p99 before/while swapping, time
#                       until every answer carries it), then three broken versions that must be
#                       refused; prints the figures, exits 1 when a criterion is missed
#   make retrain-demo   upload a zip of labelled images, train, publish: the running mesh reloads
#                       its classifier and the same request answers with the new labels
# Extra flags: make swap-bench SWAP_ARGS="--engines face,yolo --baseline-s 60"
.PHONY: swap-bench retrain-demo
SWAP_ARGS ?=
RETRAIN_ARGS ?=

swap-bench: install models $(VENV)/.torch
	$(PY) -m meshtools.swap_bench --model-dir $(MODEL_DIR) --json build/swap-bench.json $(SWAP_ARGS)

retrain-demo: install models
	$(PY) -m meshtools.retrain_demo --model-dir $(MODEL_DIR) $(RETRAIN_ARGS)

# The embedded YOLOv3-tiny as the store's first `yolov3-tiny` version, so `make run` serves YOLO
# from the store (hot reload); published only while the channel is empty, so a version an
# operator promoted is kept.
.PHONY: yolo-default
yolo-default: install models
	$(PY) -m modelstore --store $(MODELSTORE_URL) publish yolov3-tiny $(MODEL_DIR) --engine yolo --format darknet \
		--include 'yolov3-tiny.*' --include coco.names --promote production --if-channel-empty
run: yolo-default

# OpenCV's frontal-face Haar cascade as the store's first `face-cascade` version, so `make run`
# serves the face detector's model from the store too; only while the channel is empty.
.PHONY: face-default
face-default: install
	@mkdir -p build/face-cascade
	cp "$$($(PY) -c 'import cv2, os; print(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))')" \
		build/face-cascade/cascade.xml
	$(PY) -m modelstore --store $(MODELSTORE_URL) publish face-cascade build/face-cascade --engine face \
		--format haar-cascade --promote production --if-channel-empty
run: face-default
