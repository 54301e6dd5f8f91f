# Face recognition (docs/recognition.md): dlib's model files and real test photos, the gallery.
#   make recognition-models    dlib's 5-point landmarks + ResNet, and the face_recognition 1.3.0
#                              test photos, into $(MODEL_DIR) (downloaded, never installed, SHA-256 checked)
#   make gallery-default       the default gallery (obama + biden, one photo each) published to the
#                              model store, when its channel has none yet (make run does it)
#   make enroll FACES=dir      the folder (NAME.jpg or NAME/*.jpg) becomes the new gallery version;
#                              ENROLL_ARGS=--add adds it to the current one instead. A running
#                              recognition service picks it up within seconds, no restart.
#   make recognition-bench     embeddings/s and per-frame cost with and without track reuse
# The gallery lives in the model store (MODELSTORE_URL, default var/modelstore; s3://... works too).
MODELSTORE_URL ?= var/modelstore
ENROLL_ARGS ?=
RECOGNITION_BENCH_ARGS ?=
GALLERY := $(PY) -m facerecognition.cli --model-dir $(MODEL_DIR) --model-store $(MODELSTORE_URL)
.PHONY: recognition-models gallery-default enroll recognition-bench

recognition-models: $(STAMP)
	$(PY) -m facerecognition.fetch --dest $(MODEL_DIR)

# Publishes only when the channel points at nothing: a gallery someone enrolled is kept.
gallery-default: recognition-models
	$(GALLERY) default

enroll: install recognition-models
	@test -n "$(FACES)" || { echo "usage: make enroll FACES=path/to/photos [ENROLL_ARGS=--add]"; exit 2; }
	$(GALLERY) enroll --faces "$(FACES)" $(ENROLL_ARGS)

recognition-bench: install recognition-models
	$(PY) -m meshtools.bench.recognition --model-dir $(MODEL_DIR) $(RECOGNITION_BENCH_ARGS)

TEST_DEPS += recognition-models
run: recognition-models gallery-default
# `make bench` measures recognition too (group d: on/off, and where it runs).
bench: recognition-models

# The acceptance check of the gallery swap under load (issue 11): four robots stream through the
# mesh (two recognition replicas) while an operator enrols someone; exits non-zero when a frame
# fails or an answer more than 5 s after the change is still on the old version. Prints figures.
.PHONY: recognition-swap-check
recognition-swap-check: install recognition-models
	LIQUIDEDGE_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest tests/facerecognition/test_gallery_live.py -k swap_under_load -s -q -p no:cacheprovider
