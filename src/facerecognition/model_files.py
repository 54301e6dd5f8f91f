"""The dlib model files on disk, and the model id that ties a gallery to them.

An embedding means something only to the networks that made it: a gallery built with one
shape predictor + ResNet pair is meaningless to another. The model id names both files by
their SHA-256, so a gallery made with other files is refused instead of silently mismatching.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from liquidedge.package_files import sha256_of
from liquidedge.photos import PHOTO_DIR

PREDICTOR_NAME = "shape_predictor_5_face_landmarks.dat"
RESNET_NAME = "dlib_face_recognition_resnet_model_v1.dat"
EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class RecognitionModelFiles:
    predictor: Path
    resnet: Path

    @classmethod
    def in_dir(cls, model_dir: str | os.PathLike[str]) -> RecognitionModelFiles:
        """The layout `make recognition-models` writes."""
        root = Path(model_dir)
        return cls(root / PREDICTOR_NAME, root / RESNET_NAME)

    def check(self) -> None:
        missing = [str(p) for p in (self.predictor, self.resnet) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"face recognition model files missing: {', '.join(missing)} (run `make recognition-models`)"
            )

    @cached_property
    def digests(self) -> dict[str, str]:
        return {self.predictor.name: sha256_of(self.predictor), self.resnet.name: sha256_of(self.resnet)}

    @cached_property
    def model_id(self) -> str:
        """E.g. `dlib-resnet-v1:55533b28a958+sp5:c4b1e9804792` (both files by digest prefix)."""
        return f"dlib-resnet-v1:{self.digests[self.resnet.name][:12]}+sp5:{self.digests[self.predictor.name][:12]}"


def photo_dir(model_dir: str | os.PathLike[str]) -> Path:
    """The real photos fetched beside the models (`make recognition-models`)."""
    return Path(model_dir) / PHOTO_DIR
