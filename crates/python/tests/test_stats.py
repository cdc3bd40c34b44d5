"""memform.stats against memray's own `memray stats --json` documents of the fixture captures
(tests/fixtures/expected/*-stats-json-*.json), and its errors."""

import json
import os

import pytest

import memform

from conftest import CAPTURES, EXPECTED

CASES = sorted(EXPECTED.glob("*-stats-json-top*.json"))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    # memray printed the fixtures' start and end times in UTC, as local time.
    monkeypatch.setenv("TZ", "UTC")
    if hasattr(__import__("time"), "tzset"):
        __import__("time").tzset()


@pytest.mark.parametrize("expected", CASES, ids=[p.name for p in CASES])
def test_the_document_memray_writes(expected):
    capture, _, report = expected.stem.partition("-stats-json-")
    n = 12 if report == "top12" else 5
    got = memform.stats(CAPTURES / f"{capture}.bin", num_largest=n)
    assert got == json.loads(expected.read_text())


def test_transform_writes_the_document_memray_writes(tmp_path):
    capture = CAPTURES / "v1.20.0-py3.11-default.bin"
    expected = EXPECTED / "v1.20.0-py3.11-default-stats-json-top5.json"
    written = memform.transform(capture, "stats", tmp_path / "s.json")
    assert written == tmp_path / "s.json"
    assert written.read_bytes() == expected.read_bytes()
    with pytest.raises(FileExistsError):
        memform.transform(capture, "stats", written)
    with pytest.raises(ValueError, match="do not apply to the stats format"):
        memform.transform(capture, "stats", tmp_path / "t.json", leaks=True)
    assert not (tmp_path / "t.json").exists()


def test_paths_of_every_kind(tmp_path):
    capture = CAPTURES / "v1.20.0-py3.11-default.bin"
    as_str = memform.stats(str(capture))
    assert memform.stats(capture) == as_str
    assert memform.stats(os.fsencode(capture).decode()) == as_str
    assert as_str["total_num_allocations"] > 0
    assert len(as_str["top_allocations_by_size"]) <= 5


def test_errors():
    with pytest.raises(ValueError, match="pre-aggregated"):
        memform.stats(CAPTURES / "v1.20.0-py3.11-aggregate.bin")
    with pytest.raises(ValueError, match="num_largest"):
        memform.stats(CAPTURES / "v1.20.0-py3.11-default.bin", num_largest=0)
    with pytest.raises(FileNotFoundError):
        memform.stats(CAPTURES / "no-such.bin")


def test_a_damaged_capture_raises_capture_error(tmp_path):
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes((CAPTURES / "v1.20.0-py3.11-nocompress.bin").read_bytes()[:100] + b"\xff" * 64)
    with pytest.raises(memform.CaptureError) as info:
        memform.stats(damaged)
    assert info.value.path == str(damaged) or str(damaged) in str(info.value)
