"""Errors as the documented exceptions, with the same words as the command line, and never
a crashed interpreter."""

import errno
from pathlib import Path

import pytest

import memform
from conftest import CAPTURES, ROOT, run_memform


def cli_error(*args):
    """The command line's error message (after `memform: error: `) for the same mistake."""
    done = run_memform("transform", *args)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("memform: error: "), line
    return line[len("memform: error: "):]


def test_missing_capture_is_file_not_found(tmp_path):
    missing = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError) as raised:
        memform.report(missing)
    assert raised.value.errno == errno.ENOENT
    assert raised.value.filename == str(missing)
    with pytest.raises(FileNotFoundError):
        memform.transform(missing, "csv")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "content,offset",
    [
        (b"", 0),
        (b"not a capture at all", 0),
        (b"memray\0\x63\0\0\0", 7),
        # The first 40 bytes of a real capture: the header stops inside the tracker
        # statistics, which start at byte 17.
        (None, 17),
    ],
    ids=["empty", "not-a-capture", "unknown-version", "truncated-header"],
)
def test_unreadable_capture_is_capture_error(tmp_path, content, offset):
    capture = tmp_path / "bad.bin"
    if content is None:
        content = (CAPTURES / "v1.20.0-py3.11-nocompress.bin").read_bytes()[:40]
    capture.write_bytes(content)
    with pytest.raises(memform.CaptureError) as raised:
        memform.report(capture)
    error = raised.value
    assert error.path == str(capture)
    assert str(error) == cli_error("csv", "-o", tmp_path / "out.csv", capture)
    assert error.offset == offset
    assert f": byte {offset}: " in str(error)
    assert error.decompressed is False
    with pytest.raises(memform.CaptureError):
        memform.transform(capture, "parquet")
    # Nothing written: not the report, not a temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bin"]


def test_corrupt_lz4_capture_names_the_byte(tmp_path):
    data = bytearray((CAPTURES / "v1.20.0-py3.11-default.bin").read_bytes())
    data[200:260] = b"\xff" * 60
    capture = tmp_path / "corrupt.bin"
    capture.write_bytes(bytes(data))
    with pytest.raises(memform.CaptureError) as raised:
        memform.report(capture)
    assert raised.value.offset is not None
    assert str(raised.value) == cli_error("csv", "-o", tmp_path / "o.csv", capture)


def test_bad_format_and_bad_arguments_are_value_errors(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    with pytest.raises(ValueError, match="^Format not supported: html$"):
        memform.transform(capture, "html")
    with pytest.raises(ValueError, match="two different reports"):
        memform.report(capture, leaks=True, temporary_threshold=1)
    with pytest.raises(OverflowError):
        memform.report(capture, temporary_threshold=-1)
    with pytest.raises(TypeError):
        memform.transform(capture, 3)


def test_existing_output_needs_force(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    first = memform.transform(capture, "csv")
    assert first == capture.parent / "memray-csv-v1.20.0-py3.11-default.csv"
    before = first.read_bytes()
    first.write_bytes(b"old")
    with pytest.raises(FileExistsError) as raised:
        memform.transform(capture, "csv")
    assert raised.value.filename == str(first)
    assert first.read_bytes() == b"old"
    assert memform.transform(capture, "csv", force=True) == first
    assert first.read_bytes() == before


def test_output_onto_a_directory_or_the_capture(fixture_copy, tmp_path):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    with pytest.raises(IsADirectoryError):
        memform.transform(capture, "csv", tmp_path, force=True)
    with pytest.raises(ValueError, match="over the capture itself"):
        memform.transform(capture, "csv", capture, force=True)


def test_unwritable_output_is_an_os_error(fixture_copy, tmp_path):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    with pytest.raises(FileNotFoundError):
        memform.transform(capture, "csv", tmp_path / "no" / "such" / "dir" / "r.csv")


def test_every_output_format_through_the_api(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    for format in memform.REPORT_FORMATS:
        path = memform.transform(capture, format, leaks=True)
        done = run_memform("transform", format, "--leaks", "-q", "-o",
                           path.with_suffix(".cli"), capture)
        assert done.returncode == 0, done.stderr
        assert path.read_bytes() == path.with_suffix(".cli").read_bytes(), format


def test_fuzzer_findings_raise_or_report_and_never_crash():
    findings = sorted((ROOT / "tests" / "fixtures" / "fuzz").glob("*.bin"))
    assert findings
    for capture in findings:
        for kwargs in ({}, {"leaks": True}, {"temporary_threshold": 0}):
            try:
                memform.report(capture, **kwargs)
            except (memform.CaptureError, ValueError):
                pass


def test_the_aggregate_format_through_the_api(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    path = memform.transform(capture, "aggregate")
    assert path.name == "memray-aggregate-v1.20.0-py3.11-default.bin"
    done = run_memform("transform", "aggregate", "-q", "-o", path.with_suffix(".cli"), capture)
    assert done.returncode == 0, done.stderr
    assert path.read_bytes() == path.with_suffix(".cli").read_bytes()
    assert memform.report(path).num_rows == memform.report(capture).num_rows
    with pytest.raises(ValueError, match="do not apply"):
        memform.transform(capture, "aggregate", force=True, leaks=True)


def test_aggregating_an_aggregated_capture_is_a_value_error(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-aggregate.bin")
    with pytest.raises(ValueError, match="already aggregated"):
        memform.transform(capture, "aggregate")
