"""`make retrain-demo`: the ingest -> retrain -> deploy loop, end to end, with one command.

An edge site's loop, every part a real process on loopback:

1. the dataset ingest (HTTP) and the trainer (waiting for dataset triggers) start;
2. a zip of labelled images of two ground textures (brick, grass) is uploaded; the trainer
   trains a classifier on it, publishes it and promotes it to `production`;
3. the mesh starts with the classifier served from the store (the aggregator and the
   classification service: whole-frame labels), and a frame of gravel is sent: the classifier
   knows two labels, so it answers one of them;
4. a zip with a third label (gravel) is uploaded; the trainer trains and publishes a new
   version; the running classifier loads it beside the serving one and swaps it in;
5. the same request now answers `gravel`, from the new version.

Prints each step's time and the held-out accuracy of each version; exits 1 when the final
answer is not the new label. Everything lands under `--work-dir` (cleared first), so
`modelstore list --store var/retrain-demo/store` shows what was made.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import grpc

from liquidedge.config import EnvDefaultsParser
from liquidedge.imaging import encode_jpeg
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from meshtools.localmesh import ServiceProcess, free_port, start_process, wait_serving
from meshtools.samples import sample_image_bgr
from modelstore import open_store

log = logging.getLogger(__name__)

MODEL = "classifier"
EDGE = "edge1"
# The sample dataset's textures (`python -m modeltrainer.sample_dataset`): scikit-image photographs.
LABELS = ("brick", "grass", "gravel")
FIRST_LABELS = LABELS[:2]
NEW_LABEL = LABELS[2]
QUIET = ["--log-level", "WARNING", "--log-format", "text"]


@dataclass(frozen=True)
class DemoSettings:
    model_dir: Path
    work_dir: Path
    per_label: int = 30
    poll_s: float = 0.5
    timeout_s: float = 180.0


@dataclass
class DemoResult:
    steps: list[tuple[str, float, str]] = field(default_factory=list)  # what, seconds, outcome
    answers: list[dict[str, Any]] = field(default_factory=list)  # label, confidence, version
    versions: list[dict[str, Any]] = field(default_factory=list)  # version, labels, held-out accuracy

    @property
    def passed(self) -> bool:
        return (
            len(self.answers) == 2
            and len(self.versions) == 2
            and self.answers[0]["label"] in FIRST_LABELS
            and self.answers[1]["label"] == NEW_LABEL
            and [a["version"] for a in self.answers] == [v["version"] for v in self.versions]
        )


class Steps:
    """Times each step and tells the reader what it did."""

    def __init__(self, result: DemoResult, say: Callable[[str], None]) -> None:
        self.result, self.say = result, say

    def run(self, what: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        outcome = action()
        seconds = time.monotonic() - started
        self.result.steps.append((what, seconds, outcome))
        self.say(f"{what:<48} {seconds:6.1f} s  {outcome}")


def wait_until(probe: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")


def upload(port: int, zip_bytes: bytes) -> dict[str, Any]:
    """What `curl -T data.zip 'http://.../zip?edgeId=edge1'` does."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/zip?edgeId={EDGE}", data=zip_bytes, method="PUT"
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def gravel_frame() -> bytes:
    """A robot camera looking at gravel: the bottom of the photograph, which the sample dataset's
    training images never come from (they are cut from its top 70%)."""
    gravel = sample_image_bgr(NEW_LABEL)
    height = gravel.shape[0]
    patch = gravel[int(0.75 * height) :, : gravel.shape[1] // 2]
    return encode_jpeg(cv2.resize(patch, (640, 480), interpolation=cv2.INTER_AREA), 85)


def sample_zip(work: Path, labels: Sequence[str], per_label: int) -> bytes:
    """The sample dataset's zip, made as a user makes it: `python -m modeltrainer.sample_dataset`."""
    out = work / f"{'-'.join(labels)}.zip"
    subprocess.run(
        [sys.executable, "-m", "modeltrainer.sample_dataset", "--out", str(out), "--labels", ",".join(labels),
         "--per-label", str(per_label)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def ask(address: str, jpeg: bytes) -> dict[str, Any]:
    """The demo's request to the aggregator: label the whole frame."""
    with grpc.insecure_channel(address) as channel:
        request = detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(number=1, jpeg=jpeg, source_id="retrain-demo"), engines=[MODEL]
        )
        reply = detection_pb2_grpc.DetectorStub(channel).Detect(request, timeout=30)
    status = reply.engines[0]
    if not status.ok or not reply.detections:
        raise RuntimeError(f"the classifier did not answer: {status.code} {status.error}")
    best = reply.detections[0]
    return {"label": best.label, "confidence": round(best.confidence, 3), "version": status.model_version}


def run_demo(settings: DemoSettings, *, say: Callable[[str], None] = lambda _line: None) -> DemoResult:
    work = settings.work_dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store_root = work / "store"
    store = open_store(str(store_root))
    result = DemoResult()
    steps = Steps(result, say)
    ingest_port, classifier_port, aggregator_port = free_port(), free_port(), free_port()
    shared = ["--store", str(store_root), "--trigger-dir", str(work / "triggers")]
    frame = gravel_frame()

    def trained(after: str | None) -> str:
        """Wait for the trainer to move `production` past `after`; the version and its accuracy."""
        state = wait_until(
            lambda: (s := store.channel(MODEL, "production")) is not None and s.version != after and s,
            settings.timeout_s,
            "a trained version on production",
        )
        manifest = store.get(MODEL, state.version).manifest
        accuracy = manifest.metrics.get("heldout_accuracy")
        result.versions.append({"version": state.version, "labels": manifest.meta.get("labels"),
                                "heldout_accuracy": accuracy, "heldout_images": manifest.metrics.get("heldout_images")})  # fmt: skip
        return (
            f"{state.version}: held-out accuracy {accuracy:.3f} on {manifest.metrics.get('heldout_images')} "
            f"images, labels {', '.join(manifest.meta.get('labels', []))}"
        )

    def uploaded(labels: Sequence[str]) -> str:
        answer = upload(ingest_port, sample_zip(work, labels, settings.per_label))
        return (
            f"dataset {answer['dataset']} {answer['version']}: {answer['images']} images {answer['labels']}"
        )

    def answered() -> str:
        answer = ask(f"127.0.0.1:{aggregator_port}", frame)
        result.answers.append(answer)
        return f'"{answer["label"]}" ({answer["confidence"]}) from {answer["version"]}'

    with ExitStack() as stack:

        def start_loop() -> str:
            start_process(stack, [sys.executable, "-m", "datasetingest", "--port", str(ingest_port),
                                  "--work-dir", str(work / "ingest"), *shared, *QUIET])  # fmt: skip
            outcomes = stack.enter_context(open(work / "trainer-outcomes.jsonl", "w"))  # a JSON line a run
            start_process(stack, [sys.executable, "-m", "modeltrainer", *shared, "--cache-dir",
                                  str(work / "trainer-cache"), "--model-dir", str(settings.model_dir), *QUIET],
                          stdout=outcomes)  # fmt: skip
            wait_until(lambda: healthy(ingest_port), settings.timeout_s, "the ingest")
            return f"ingest on http://127.0.0.1:{ingest_port}/zip, trainer waiting for triggers"

        def start_mesh() -> str:
            classifier = ServiceProcess("classification", "classification", classifier_port, [
                "--host", "127.0.0.1", "--metrics-port", "-1", "--model-store", str(store_root),
                "--model-cache-dir", str(work / "classifier-cache"), "--model-poll-s", str(settings.poll_s),
                "--model-dir", str(settings.model_dir), *QUIET], {"PYTHONUNBUFFERED": "1"})  # fmt: skip
            aggregator = ServiceProcess("objectdetection", "objectdetection", aggregator_port, [
                "--host", "127.0.0.1", "--metrics-port", "-1", "--face-addr", "", "--yolo-addr", "",
                "--classifier-addr", classifier.address, *QUIET], {"PYTHONUNBUFFERED": "1"})  # fmt: skip
            for service in (classifier, aggregator):  # the classifier first: SERVING once its model loaded
                service.start()
                stack.callback(service.stop)
                wait_serving(service.address, settings.timeout_s)
            return f"aggregator {aggregator.address} -> classifier {classifier.address} (store: production)"

        def reloaded() -> str:
            new = result.versions[-1]["version"]
            wait_until(
                lambda: ask(f"127.0.0.1:{aggregator_port}", frame)["version"] == new,
                settings.timeout_s,
                f"answers from {new}",
            )
            state = store.channel(MODEL, "production")
            promoted = datetime.fromisoformat(state.updated.replace("Z", "+00:00")).timestamp()
            return f"answers from {new} {time.time() - promoted:.1f} s after its promotion"

        steps.run("start the ingest and the trainer", start_loop)
        steps.run(f"upload a zip of {', '.join(FIRST_LABELS)}", lambda: uploaded(FIRST_LABELS))
        steps.run("train, publish, promote", lambda: trained(None))
        steps.run("start the mesh with the classifier from the store", start_mesh)
        steps.run("request: a frame of gravel", answered)
        steps.run(f"upload a zip of {', '.join(LABELS)}", lambda: uploaded(LABELS))
        steps.run("train, publish, promote", lambda: trained(result.versions[-1]["version"]))
        steps.run("the mesh reloads (no restart)", reloaded)
        steps.run("the same request", answered)
    return result


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="python -m meshtools.retrain_demo", description=__doc__.splitlines()[0])
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO"
    )
    parser.env_flag("--work-dir", "RETRAIN_WORK_DIR", default="var/retrain-demo", help="cleared, then filled")
    parser.env_flag(
        "--per-label", "RETRAIN_PER_LABEL", default=30, type=int, help="images per label uploaded"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = DemoSettings(Path(args.model_dir), Path(args.work_dir), per_label=args.per_label)
    started = time.monotonic()
    result = run_demo(settings, say=lambda line: print(line, flush=True))
    print(f"{'total':<48} {time.monotonic() - started:6.1f} s")
    for version in result.versions:
        print(f"held-out accuracy of {version['version']}: {version['heldout_accuracy']:.3f} "
              f"({version['heldout_images']} images; labels {', '.join(version['labels'])})")  # fmt: skip
    if not result.passed:
        print(f"FAIL: the same request did not answer {NEW_LABEL!r} from the new version: {result.answers}")
        return 1
    print(f"PASS: before {result.answers[0]['label']!r} (v1 knows {', '.join(FIRST_LABELS)}), "
          f"after {result.answers[1]['label']!r} from the retrained version")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
