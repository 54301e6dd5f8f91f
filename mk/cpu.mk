# CPU backends: OpenVINO / ONNX Runtime, INT8, face settings (owner: CPU, issue 10).
#   make convert       convert the Darknet model to ONNX once (an image build runs this; needs torch)
#   make int8          quantise it to INT8 (NNCF), print its agreement with FP32, keep it only if accepted
#   make face-tuning   reprint the Haar settings table: true faces found vs CPU per frame (docs/cpu.md)
#   make face-threads  OpenCV threads 0 (one per core) vs 1 in the face engine: CPU per frame, 1 and 4 callers
.PHONY: convert int8 face-tuning

$(VENV)/.quantize: | $(STAMP)
	$(PIP) install -q -e '.[quantize]'
	touch $@

convert: install models $(VENV)/.torch
	$(PY) -m yolodetection.onnx_export --model-dir $(MODEL_DIR)

int8: install models $(VENV)/.torch $(VENV)/.quantize
	$(PY) -m yolodetection.quantize --model-dir $(MODEL_DIR)

face-tuning: install models
	$(PY) -m meshtools.bench.face_tuning --model-dir $(MODEL_DIR)

# The INT8 test quantises with a few frames and checks what the command prints and keeps.
TEST_DEPS += $(VENV)/.quantize

# OpenCV's threads in the face service: CPU per frame with 1 and 4 callers (FACE_OPENCV_THREADS).
.PHONY: face-threads
face-threads: install
	$(PY) -m meshtools.bench.face_threads $(FACE_THREADS_ARGS)
