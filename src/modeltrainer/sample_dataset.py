"""A small real labelled dataset: ground textures a robot drives on (brick, grass, gravel).

scikit-image ships these photographs in its wheel (no download). Each label's images are
random crops (56..144 px, flipped, rotated, brightness and contrast jittered) from the top
70% of its photograph; `held_out_crops` takes crops from the bottom 30% only, so a test of
the trained classifier sees parts of the textures no training image contains.

    python -m modeltrainer.sample_dataset --out var/terrain.zip
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

LABELS = ("brick", "grass", "gravel")
TRAIN_ROWS = (0.0, 0.7)
HELD_OUT_ROWS = (0.7, 1.0)


def texture_bgr(label: str) -> np.ndarray:
    import skimage.data  # the demo/dev extra: only where sample data is wanted

    gray = getattr(skimage.data, label)()
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def random_crops(
    image_bgr: np.ndarray, count: int, rng: np.random.Generator, rows: tuple[float, float]
) -> list[np.ndarray]:
    """`count` augmented square crops whose pixels all come from the `rows` band of the image."""
    height, width = image_bgr.shape[:2]
    top, bottom = int(rows[0] * height), int(rows[1] * height)
    crops = []
    for _ in range(count):
        side = int(rng.integers(56, min(145, bottom - top)))
        y = int(rng.integers(top, bottom - side + 1))
        x = int(rng.integers(0, width - side + 1))
        crop = image_bgr[y : y + side, x : x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.rot90(crop, int(rng.integers(4)))
        gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
        crops.append(np.clip(crop.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8))
    return [np.ascontiguousarray(c) for c in crops]


def held_out_crops(per_label: int, seed: int = 1) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {label: random_crops(texture_bgr(label), per_label, rng, HELD_OUT_ROWS) for label in LABELS}


def sample_zip_bytes(
    per_label: int = 40, seed: int = 0, labels: Sequence[str] = LABELS, folder: str = "terrain"
) -> bytes:
    """A zip `terrain/<label>/<n>.jpg` (every fifth image a PNG, to show both types)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for label in labels:
            for number, crop in enumerate(random_crops(texture_bgr(label), per_label, rng, TRAIN_ROWS)):
                ext = ".png" if number % 5 == 4 else ".jpg"
                ok, encoded = cv2.imencode(ext, crop)
                if not ok:
                    raise RuntimeError(f"could not encode a {ext} crop")
                archive.writestr(f"{folder}/{label}/{label}-{number:03d}{ext}", encoded.tobytes())
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("var/terrain.zip"), help="zip to write")
    parser.add_argument("--per-label", type=int, default=40, help="images per label")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the crops")
    parser.add_argument(
        "--labels", default=",".join(LABELS), help=f"comma-separated, from {', '.join(LABELS)}"
    )
    args = parser.parse_args(argv)
    labels = [label for label in args.labels.split(",") if label]
    unknown = sorted(set(labels) - set(LABELS))
    if unknown or len(labels) < 2:
        parser.error(f"--labels needs two or more of {', '.join(LABELS)}; got {args.labels!r}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(sample_zip_bytes(args.per_label, args.seed, labels))
    print(f"wrote {args.out}: {len(labels)} labels x {args.per_label} images ({', '.join(labels)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
