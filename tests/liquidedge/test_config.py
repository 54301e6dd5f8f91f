from __future__ import annotations

import pytest

from liquidedge.config import EnvDefaultsParser, add_common_flags, parse_bool


def parser() -> EnvDefaultsParser:
    p = EnvDefaultsParser(prog="x")
    add_common_flags(p, port=1234, metrics_port=9999, max_in_flight=3)
    return p


def test_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "BIND_HOST", "MAX_FRAME_BYTES"):
        monkeypatch.delenv(name, raising=False)
    args = parser().parse_args([])
    assert (args.port, args.host, args.max_frame_bytes, args.metrics_port) == (
        1234,
        "127.0.0.1",
        8388608,
        9999,
    )


def test_environment_twin_sets_the_default_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    assert parser().parse_args([]).port == 7000
    assert parser().parse_args(["--port", "7001"]).port == 7001


def test_bad_environment_value_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-number")
    with pytest.raises(SystemExit):
        parser()


@pytest.mark.parametrize(("text", "value"), [("true", True), ("0", False), ("On", True), ("no", False)])
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="boolean"):
        parse_bool("maybe")
