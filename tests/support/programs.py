"""Where each service program's importable parts live (build_parser, start, DEFAULT_PORT...)."""

from __future__ import annotations

import importlib
from types import ModuleType

SERVICE_MODULES = {
    "objectdetection": "objectdetection.service",
    "facedetection": "facedetection.service",
    "yolodetection": "yolodetection.service",
    "cameragateway": "cameragateway.service",
    "classification": "classification.service",
    "facerecognition": "facerecognition.service",
}


def service_module(program: str) -> ModuleType:
    return importlib.import_module(SERVICE_MODULES[program])
