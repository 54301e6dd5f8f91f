"""The gallery CLI: enrol a folder, refuse a bad photo by name, forget, roll back (its README
table is checked with the other programs' in tests/test_readme.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facerecognition.cli import main
from facerecognition.model_files import RecognitionModelFiles
from facerecognition.store import GalleryPlace
from modelstore import open_store

# `main()` configures the root logger onto the test's captured stderr, which closes after the test.
pytestmark = pytest.mark.usefixtures("keep_root_logging")


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
    capsys.readouterr()
    assert main([*base, "forget", "joe"]) == 1  # refused, saying why
    assert "'joe' is not enrolled" in capsys.readouterr().err
    assert len(place.store.versions(place.name)) == 3  # nothing published by the refused forget
    current = place.load_current(RecognitionModelFiles.in_dir(recognition_dir).model_id)
    assert current is not None and current.people == ("barack", "biden", "obama")
    assert current.parent is not None  # each change records the version it came from
    assert main([*base, "use", first]) == 0
    assert place.current_version() == first
