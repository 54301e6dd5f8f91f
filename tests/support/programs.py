"""Where each service program's importable parts live (build_parser, start, DEFAULT_PORT...)."""

from __future__ import annotations

import importlib
from types import ModuleType

# objectdetection keeps them in its __main__ until its own service module lands (the
# aggregator's branch); then this reads "objectdetection.service" like the others.
SERVICE_MODULES = {
    "objectdetection": "objectdetection.__main__",
    "facedetection": "facedetection.service",
    "yolodetection": "yolodetection.service",
}


def service_module(program: str) -> ModuleType:
    return importlib.import_module(SERVICE_MODULES[program])
