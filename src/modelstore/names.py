"""Rules for the names the store keeps: model names, versions, channels, file paths.

They become directory names and object keys, so they are checked on the way in: a name
with `/`, `..` or a control character would let one model write into another's space.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
KINDS = ("model", "dataset")


def check_name(name: str, what: str = "model name") -> str:
    """A model, dataset or channel name: lower-case letters, digits, `.`, `_`, `-`; at most 64."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(
            f"{what} {name!r} is invalid: use lower-case letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 64 characters)"
        )
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version) or ".." in version:
        raise ValueError(
            f"version {version!r} is invalid: use letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 80 characters)"
        )
    return version


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def check_relative_path(path: str) -> str:
    """A file's path inside a version: relative, `/`-separated, no `.`/`..` parts, no NUL."""
    if not isinstance(path, str) or not path or len(path) > 255:
        raise ValueError(f"file path {path!r} must be 1..255 characters")
    if path.startswith("/") or "\\" in path or "\x00" in path or ":" in path.split("/", 1)[0]:
        raise ValueError(f"file path {path!r} must be relative and use '/' separators")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"file path {path!r} has an empty, '.' or '..' part")
    if any(ord(ch) < 32 for ch in path):
        raise ValueError(f"file path {path!r} has a control character")
    return path
