"""The gallery CLI: documented flags, enrol a folder, refuse a bad photo by name, forget, roll back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from facerecognition.cli import build_parser, main
from facerecognition.model_files import RecognitionModelFiles
from facerecognition.store import GalleryPlace
from modelstore import open_store


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """`main()` configures the root logger onto this test's captured stderr, which closes after
    the test: put the root logger back, or later tests' log lines would hit a closed file."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_flag_and_env_var_is_documented() -> None:
    parser = build_parser()
    missing = [
        f"{flag} / {env}"
        for flag, env in parser.env_names.items()
        if f"`{flag}`" not in README or f"`{env}`" not in README
    ]
    assert not missing, f"undocumented in README.md: {missing}"


def test_enrol_forget_list_and_roll_back(
    tmp_path: Path, recognition_dir: Path, photo_bytes: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir, cache = tmp_path / "store", tmp_path / "cache"
    base = [
        "--model-store",
        str(store_dir),
        "--model-cache-dir",
        str(cache),
        "--model-dir",
        str(recognition_dir),
    ]
    place = GalleryPlace(open_store(str(store_dir)), cache_dir=cache)

    assert main([*base, "default"]) == 0
    first = place.current_version()
    assert first is not None
    assert main([*base, "default"]) == 0  # an existing gallery is kept
    assert place.current_version() == first

    photos = tmp_path / "photos"
    (photos / "barack").mkdir(parents=True)
    (photos / "barack" / "a.jpg").write_bytes(photo_bytes["obama2"])
    (photos / "joe.jpg").write_bytes(photo_bytes["biden"])
    assert main([*base, "enroll", "--faces", str(photos), "--add"]) == 0
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    listing = capsys.readouterr().out
    for line in (
        "barack: 1 photo(s)",
        "biden: 1 photo(s)",
        "joe: 1 photo(s)",
        "obama: 1 photo(s)",
        "<- current",
    ):
        assert line in listing

    (photos / "cup.jpg").write_bytes(b"not an image")
    assert main([*base, "enroll", "--faces", str(photos)]) == 1  # refused, naming the photo
    assert "cup.jpg" in capsys.readouterr().err
    assert len(place.store.versions(place.name)) == 2  # nothing published by the refused enrolment

    assert main([*base, "forget", "joe"]) == 0
    assert main([*base, "forget", "joe"]) == 1
    current = place.load_current(RecognitionModelFiles.in_dir(recognition_dir).model_id)
    assert current is not None and current.people == ("barack", "biden", "obama")
    assert current.parent is not None  # each change records the version it came from
    assert main([*base, "use", first]) == 0
    assert place.current_version() == first
