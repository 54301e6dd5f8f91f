"""Enrolment: one face per photo or a refusal that says why; add and forget make new versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from facerecognition.enrolment import Enroller, NoFaceError, Photo, read_folder
from facerecognition.gallery import Gallery, InvalidNameError


@pytest.mark.parametrize("case", ["no-face", "two-faces", "too-small", "unreadable"])
def test_refusals_say_which(case: str, enroller: Enroller, refusals: dict) -> None:
    data, expected = refusals[case]
    with pytest.raises(expected) as caught:
        enroller.enrol_photo(Photo(f"{case}.jpg", data))
    assert caught.value.photo == f"{case}.jpg"
    assert f"{case}.jpg" in str(caught.value)
    # Each refusal is its own type (a servicer maps them to status codes); all are EnrolmentErrors.
    others = {t for _, t in refusals.values()} - {expected}
    assert not isinstance(caught.value, tuple(others))


def test_a_refused_photo_refuses_the_whole_build(
    enroller: Enroller, photo_bytes: dict[str, bytes], refusals: dict
) -> None:
    coffee = refusals["no-face"][0]
    with pytest.raises(NoFaceError):
        enroller.build(
            {"obama": [Photo("obama.jpg", photo_bytes["obama"])], "cup": [Photo("cup.jpg", coffee)]}
        )


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("alice", True),
        ("Mary-Jane O.", True),
        ("", False),  # empty
        ("unknown", False),  # reserved: what unrecognised faces are called
        ("Unknown", False),  # ... in any case
        ("../etc", False),  # path characters
        ("x" * 65, False),  # too long
    ],
)
def test_person_names(name: str, ok: bool, enroller: Enroller) -> None:
    if ok:
        with pytest.raises(ValueError, match="no photos"):  # the name passes; no photo was given
            enroller.enrol_person(name, [])
    else:
        with pytest.raises(InvalidNameError):
            enroller.enrol_person(name, [])


def test_read_folder_names_people_by_file_and_folder(tmp_path: Path, photo_bytes: dict[str, bytes]) -> None:
    (tmp_path / "alice.jpg").write_bytes(photo_bytes["obama"])
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "1.jpg").write_bytes(photo_bytes["obama2"])
    (tmp_path / "bob" / "2.JPEG").write_bytes(photo_bytes["obama3"])
    (tmp_path / "bob" / "notes.txt").write_text("not a photo")
    (tmp_path / ".hidden.jpg").write_bytes(b"skipped")
    people = read_folder(tmp_path)
    assert {name: [p.name for p in ps] for name, ps in people.items()} == {
        "alice": ["alice.jpg"],
        "bob": ["bob/1.jpg", "bob/2.JPEG"],
    }
    with pytest.raises(FileNotFoundError):
        read_folder(tmp_path / "bob" / "1.jpg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no photos"):
        read_folder(tmp_path / "empty")


def test_add_and_forget_make_new_versions(
    enroller: Enroller, default_gallery: Gallery, photo_bytes: dict[str, bytes]
) -> None:
    # Several photos of one person; the same person's name replaces their earlier photos.
    more = enroller.build(
        {"obama": [Photo("obama2.jpg", photo_bytes["obama2"]), Photo("obama3.jpg", photo_bytes["obama3"])]},
        parent=default_gallery,
    )
    assert more.parent == default_gallery.version != more.version
    assert more.people == ("biden", "obama")
    assert sorted(s.photo for s in more.sources) == ["biden.jpg", "obama2.jpg", "obama3.jpg"]
    fewer = more.without("biden")
    assert fewer.people == ("obama",) and fewer.parent == more.version
    assert len(fewer) == 2
    with pytest.raises(KeyError, match="biden"):
        fewer.without("biden")
    # The versions they came from are untouched (a version never changes).
    assert default_gallery.people == ("biden", "obama") and len(default_gallery) == 2
    # Each source names its photo's SHA-256 and the box the face was in.
    obama = next(s for s in default_gallery.sources if s.photo == "obama.jpg")
    assert len(obama.sha256) == 64 and obama.box_xyxy[2] - obama.box_xyxy[0] >= 80
