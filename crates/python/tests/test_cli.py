"""The wheel's `memform` command: the Rust command line, run from Python's console script."""

import memform
from conftest import EXPECTED, run_memform


def test_version_and_help():
    done = run_memform("--version")
    assert done.returncode == 0
    assert done.stdout == f"memform {memform.__version__}\n"
    done = run_memform("transform", "--help")
    assert done.returncode == 0
    assert "Format to use for the report" in done.stdout


def test_a_report_like_memrays(fixture_copy):
    capture = fixture_copy("v1.20.0-py3.11-default.bin")
    done = run_memform("transform", "gprof2dot", "--leaks", capture)
    assert done.returncode == 0, done.stderr
    out = capture.parent / "memray-gprof2dot-v1.20.0-py3.11-default.json"
    assert done.stdout == f"Wrote {out}\n"
    assert out.read_bytes() == (EXPECTED / "v1.20.0-py3.11-default-gprof2dot-leaks.json").read_bytes()


def test_errors_exit_1_with_one_line(tmp_path):
    missing = tmp_path / "missing.bin"
    done = run_memform("transform", "csv", missing)
    assert done.returncode == 1
    assert done.stderr == f"memform: error: No such file: {missing}\n"
    done = run_memform("transform")
    assert done.returncode == 1
    assert "Usage: memform transform" in done.stderr
