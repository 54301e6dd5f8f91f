# syntax=docker/dockerfile:1.7
# The YOLO service on NVIDIA GPUs: the project's PyTorch backend (YOLO_BACKEND=torch,
# YOLO_DEVICE=cuda) on the official PyTorch CUDA runtime image, which brings PyTorch, CUDA and
# cuDNN built to work together. OpenCV's DNN module would need an OpenCV built from source with
# CUDA (PyPI's wheels have none); see the README's deploy section. Build context: repo root.
#   docker build -f docker/cuda.Dockerfile --target yolodetection-cuda -t liquidedge/yolodetection-cuda:0.1.0 .
# The node needs the NVIDIA driver and container toolkit (the GPU Operator installs both).
# Pin the base by digest in your registry mirror once pulled.
ARG PYTORCH_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime

# ---- build: the project in a venv that sees the base image's torch (not a second copy) -------
FROM ${PYTORCH_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv --system-site-packages /opt/liquidedge
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The [torch] extra is already satisfied by the base image's torch, so pip keeps that one; [s3]
# (boto3) lets the pods follow a model store in a bucket (components/model-store).
RUN /opt/liquidedge/bin/pip install '.[torch,s3]' \
 && /opt/liquidedge/bin/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
 && /opt/liquidedge/bin/python -m compileall -q /opt/liquidedge/lib

FROM build AS models
RUN /opt/liquidedge/bin/python -m yolodetection.model_fetch --dest /models

# ---- runtime ---------------------------------------------------------------------------------
FROM ${PYTORCH_IMAGE} AS yolodetection-cuda
RUN groupadd --system --gid 10001 liquidedge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin liquidedge
COPY --from=build /opt/liquidedge /opt/liquidedge
COPY --from=models /models /models
COPY docker/healthcheck.py /opt/liquidedge/healthcheck.py
# HOME and the caches on /tmp (a writable emptyDir in the pod): the root filesystem is read-only.
ENV PATH=/opt/liquidedge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    BIND_HOST=0.0.0.0 \
    LOG_FORMAT=json \
    LIQUIDEDGE_MODEL_DIR=/models \
    YOLO_BACKEND=torch \
    YOLO_DEVICE=cuda
WORKDIR /tmp
USER 10001:10001
EXPOSE 50055 9155
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "/opt/liquidedge/healthcheck.py", "--port", "50055"]
ENTRYPOINT ["python", "-m", "yolodetection"]
