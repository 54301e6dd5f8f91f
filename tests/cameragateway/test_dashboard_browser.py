"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

A camera registers as an ESP32-CAM does; the test opens the dashboard and waits until that
camera's tile shows an annotated frame (boxes drawn on the canvas) and the live detections
list shows its person; then an operator adds and removes a camera from the page. Screenshots
go to build/ (the dashboard as an operator sees it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_kit import CAMERA_TOKEN, OPERATOR_TOKEN, WAIT_S, register, start_gateway, token_files
from playwright.sync_api import Browser, Page, sync_playwright

from cameragateway.service import GatewayHandle
from liquidedge.service import ServiceHandle
from meshtools.camera_emulator import CameraEmulator, load_frames
from support.ports import free_port
from support.waiting import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: `make browser-tools` installs Debian's chromium (make test does it)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def gateway(aggregator_service: ServiceHandle, tmp_path: Path) -> Iterator[GatewayHandle]:
    cameras, operator = token_files(tmp_path)
    handle = start_gateway(
        aggregator_service.port,
        "--camera-tokens-file",
        str(cameras),
        "--operator-token-file",
        str(operator),
        "--max-fps",
        "3",
    )
    yield handle
    handle.stop(0)


@pytest.fixture
def camera() -> Iterator[CameraEmulator]:
    # The cameraman (a person for YOLO) and the astronaut (a face for Haar), in turn.
    with CameraEmulator(load_frames("samples:camera,astronaut"), fps=4) as running:
        yield running


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(url)
    return page


def canvas_has_picture(page: Page, camera_id: str) -> bool:
    """True when the tile's canvas holds an image (not the blank it starts as)."""
    return page.evaluate(
        """id => {
            const canvas = document.querySelector(`.tile[data-camera-id="${id}"] canvas`);
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let lit = 0;
            for (let i = 0; i < data.length; i += 4 * 97) if (data[i] + data[i + 1] + data[i + 2] > 60) lit++;
            return lit > 100;
        }""",
        camera_id,
    )


def test_a_registered_camera_shows_up_annotated_with_its_person(
    browser: Browser, gateway: GatewayHandle, camera: CameraEmulator
) -> None:
    base = f"http://127.0.0.1:{gateway.port}"
    assert register(gateway, ip=camera.address, id="lobby", token=CAMERA_TOKEN)[0] == 200
    page = open_page(browser, base + "/")
    try:
        tile = page.wait_for_selector('.tile[data-camera-id="lobby"][data-labels*="person"]', timeout=90_000)
        assert tile is not None and int(tile.get_attribute("data-boxes")) >= 1
        assert canvas_has_picture(page, "lobby")
        row = page.wait_for_selector(
            '#detections li[data-camera="lobby"][data-label="person"]', timeout=30_000
        )
        assert "person" in row.inner_text() and "lobby" in row.inner_text()
        page.wait_for_selector('.tile[data-camera-id="lobby"][data-state="online"]', timeout=30_000)
        page.wait_for_selector('#engines tr[data-engine="yolo"]', timeout=30_000)
        assert page.inner_text("#n-online") == "1"
        assert page.inner_text("#mesh-status") == "serving"
        page.wait_for_timeout(2500)  # a few chart samples, for the picture
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "cameragateway-dashboard.png"))
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_operator_adds_and_removes_a_camera_from_the_page(
    browser: Browser, gateway: GatewayHandle, camera: CameraEmulator
) -> None:
    base = f"http://127.0.0.1:{gateway.port}"
    page = open_page(browser, base + "/")
    try:
        page.click("#manage-button")

        def add_yard(token: str, outcome: str) -> str:
            page.fill("#op-token", token)
            page.fill("#add-id", "yard")
            page.fill("#add-where", f"http://{camera.address}/stream")
            page.click("#add-form button[type=submit]")
            page.wait_for_selector(f"#manage-result.{outcome}", timeout=10_000)
            return page.inner_text("#manage-result")

        assert "operator token required" in add_yard("wrong-token", "bad")
        assert gateway.fleet.get("yard") is None
        assert "yard: added" in add_yard(OPERATOR_TOKEN, "good")
        page.keyboard.press("Escape")
        page.wait_for_selector('.tile[data-camera-id="yard"][data-frame]', timeout=90_000)

        page.on("dialog", lambda dialog: dialog.accept())
        page.click('.tile[data-camera-id="yard"] .remove')
        wait_for(lambda: gateway.fleet.get("yard") is None, WAIT_S, "the camera removed")
        page.wait_for_selector('.tile[data-camera-id="yard"]', state="detached", timeout=10_000)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_the_camera_page_shows_one_camera(
    browser: Browser, gateway: GatewayHandle, camera: CameraEmulator
) -> None:
    base = f"http://127.0.0.1:{gateway.port}"
    assert register(gateway, ip=camera.address, id="dock", token=CAMERA_TOKEN)[0] == 200
    page = open_page(browser, base + "/camera/dock")
    try:
        page.wait_for_selector('.tile[data-camera-id="dock"][data-frame]', timeout=90_000)
        assert page.locator(".tile").count() == 1
        assert "dock" in page.title()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "cameragateway-camera-page.png"))
    finally:
        page.close()


def test_a_recognised_face_is_named_on_its_box_and_in_the_list(
    browser: Browser, gateway: GatewayHandle
) -> None:
    """Recognition is another service's work; an answer that carries an `identity` attribute
    (as the v1 protocol's Detection.attributes will) is drawn with the name and listed by it."""
    import time

    from cameragateway.camera import Answer, Frame
    from liquidedge.detections import Detections

    quiet = f"127.0.0.1:{free_port()}"  # a camera that never answers: only the injected answer shows
    assert register(gateway, ip=quiet, id="door", token=CAMERA_TOKEN)[0] == 200
    page = open_page(browser, f"http://127.0.0.1:{gateway.port}/")
    try:
        page.wait_for_selector('.tile[data-camera-id="door"]', timeout=30_000)
        astronaut = load_frames("samples:astronaut")[0]
        found = Detections(
            xyxy=[[219, 81, 342, 204]], confidence=[0.93], label=["face"], engine=["face"]
        ).with_data(identity=["Ada Lovelace"])
        camera = gateway.fleet.get("door")
        answer = Answer(
            Frame(1, time.time(), time.monotonic(), astronaut), found, 0.05, time.time(), [], {}, (640, 640)
        )
        camera.answered(answer)
        gateway.fleet.publish_answer("door", "camera", answer)
        page.wait_for_selector('.tile[data-camera-id="door"][data-identities="Ada Lovelace"]', timeout=30_000)
        row = page.wait_for_selector(
            '#detections li[data-camera="door"][data-identity="Ada Lovelace"]', timeout=30_000
        )
        assert "Ada Lovelace" in row.inner_text() and "face" in row.inner_text()
        assert canvas_has_picture(page, "door")
        page.screenshot(path=str(SCREENSHOTS / "cameragateway-identity.png"))
    finally:
        page.close()
