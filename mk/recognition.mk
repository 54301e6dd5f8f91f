# Face recognition (docs/recognition.md): dlib's model files and real test photos, the gallery.
#   make recognition-models    dlib's 5-point landmarks + ResNet, and the face_recognition 1.3.0
#                              test photos, into $(MODEL_DIR) (downloaded, never installed, SHA-256 checked)
#   make gallery-default       the default gallery (obama + biden, one photo each) if none exists
#   make enroll FACES=dir      the folder (NAME.jpg or NAME/*.jpg) becomes the new gallery version;
#                              ENROLL_ARGS=--add adds it to the current one instead
#   make recognition-bench     embeddings/s and per-frame cost with and without track reuse
GALLERY_DIR ?= gallery
ENROLL_ARGS ?=
RECOGNITION_BENCH_ARGS ?=
GALLERY := $(PY) -m facerecognition.cli --model-dir $(MODEL_DIR) --gallery-dir $(GALLERY_DIR)
.PHONY: recognition-models gallery-default enroll recognition-bench

recognition-models: $(STAMP)
	$(PY) -m facerecognition.fetch --dest $(MODEL_DIR)

# Built once; a gallery someone enrolled (CURRENT exists) is never overwritten by it.
$(GALLERY_DIR)/CURRENT: | recognition-models
	$(GALLERY) default

gallery-default: $(GALLERY_DIR)/CURRENT

enroll: install recognition-models
	@test -n "$(FACES)" || { echo "usage: make enroll FACES=path/to/photos [ENROLL_ARGS=--add]"; exit 2; }
	$(GALLERY) enroll --faces "$(FACES)" $(ENROLL_ARGS)

recognition-bench: install recognition-models
	$(PY) -m facerecognition.bench --model-dir $(MODEL_DIR) $(RECOGNITION_BENCH_ARGS)

TEST_DEPS += recognition-models
run: recognition-models gallery-default
