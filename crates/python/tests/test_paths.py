"""Every API function takes its paths as `str` or any `os.PathLike`, and says what is wrong
with a file by the exception Python programs expect: FileNotFoundError, IsADirectoryError,
PermissionError (the OS's errors, with `errno` and `filename`), CaptureError for a file
that is there but is no capture."""

import errno
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import memform
from conftest import EXAMPLE_CAPTURE


class FsPath:
    """An os.PathLike that is neither a str nor a pathlib.Path."""

    def __init__(self, path):
        self.path = str(path)

    def __fspath__(self):
        return self.path


def call(api, capture, out):
    """`api` on `capture` (the new side of a diff; `out` a folder to write into), its result
    as plain data to compare."""
    if api == "report":
        return memform.report(capture).to_pylist()
    if api == "report_stream":
        import pyarrow

        return pyarrow.table(memform.report_stream(capture)).to_pylist()
    if api == "transform":
        written = memform.transform(capture, "csv", FsPath(out / "r.csv"), force=True)
        return pathlib.Path(written).read_text()
    if api == "events":
        tables = memform.events(capture, FsPath(out / "events"), force=True)
        return tables["allocations"].to_table().to_pylist()
    if api == "stats":
        return memform.stats(capture)
    if api == "diff-base":
        return memform.diff(capture, EXAMPLE_CAPTURE).to_pylist()
    assert api == "diff-new"
    return memform.diff(EXAMPLE_CAPTURE, capture).to_pylist()


APIS = ["report", "report_stream", "transform", "events", "stats", "diff-base", "diff-new"]


@pytest.mark.parametrize("api", APIS)
def test_str_path_and_any_pathlike_give_one_result(api, tmp_path):
    capture = tmp_path / "run.bin"
    shutil.copyfile(EXAMPLE_CAPTURE, capture)
    results = [call(api, kind(capture), tmp_path) for kind in (str, pathlib.Path, FsPath)]
    assert results[0] == results[1] == results[2]
    assert results[0], "a result with something in it"


def test_dataset_part_takes_any_pathlike():
    expected = pathlib.Path("out/capture=run%201/part-0.parquet")
    for kind in (str, pathlib.Path, FsPath):
        assert memform.dataset_part(kind("out"), kind("in/run 1.bin")) == expected


@pytest.mark.parametrize("api", APIS)
def test_a_missing_capture_is_file_not_found(api, tmp_path):
    missing = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError) as raised:
        call(api, FsPath(missing), tmp_path)
    assert raised.value.errno == errno.ENOENT
    assert raised.value.filename == str(missing)
    assert str(raised.value) == f"[Errno 2] No such file: '{missing}'"


@pytest.mark.parametrize("api", APIS)
def test_a_folder_is_not_a_capture(api, tmp_path):
    folder = tmp_path / "folder.bin"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        call(api, folder, tmp_path)
    assert raised.value.errno == errno.EISDIR
    assert raised.value.filename == str(folder)


@pytest.mark.parametrize("api", APIS)
def test_a_file_that_is_no_capture_is_a_capture_error(api, tmp_path):
    capture = tmp_path / "notes.bin"
    capture.write_bytes(b"not a capture at all")
    with pytest.raises(memform.CaptureError) as raised:
        call(api, pathlib.Path(capture), tmp_path)
    assert raised.value.path == str(capture)
    assert raised.value.offset == 0
    assert str(raised.value) == (
        f'{capture}: byte 0: not a memray capture (expected the magic "memray\\0" or an LZ4 frame)'
    )


# Run in a child process: as root (as CI runs), the child drops the capabilities that let
# root read and write any file, so that file modes hold for it as for anyone else.
PERMISSIONS_CHILD = r"""
import errno, sys
sys.path.insert(0, sys.argv[3])
import memform
from test_paths import APIS, call
import pathlib
unreadable, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for api in APIS:
    try:
        call(api, unreadable, out)
    except PermissionError as e:
        assert e.errno == errno.EACCES and e.filename == str(unreadable), (api, e)
        print(api, "PermissionError")
    except BaseException as e:
        print(api, type(e).__name__, e)
readable = pathlib.Path(sys.argv[4])
for api, target in [("transform", out / "r.csv"), ("events", out / "events")]:
    try:
        memform.transform(readable, api if api == "events" else "csv", target)
    except PermissionError as e:
        print(api, "output", "PermissionError", e.filename == str(target))
    except BaseException as e:
        print(api, "output", type(e).__name__, e)
"""


def test_files_it_may_not_read_or_write_are_permission_errors(tmp_path):
    unreadable = tmp_path / "secret.bin"
    shutil.copyfile(EXAMPLE_CAPTURE, unreadable)
    unreadable.chmod(0)
    readable = tmp_path / "run.bin"
    shutil.copyfile(EXAMPLE_CAPTURE, readable)
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o555)
    here = os.path.dirname(__file__)
    command = [sys.executable, "-c", PERMISSIONS_CHILD, unreadable, out, here, readable]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "root runs these tests: util-linux's setpriv drops its file capabilities"
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{api} PermissionError" for api in APIS] + [
        "transform output PermissionError True",
        "events output PermissionError True",
    ]
    assert not list(out.iterdir()), "nothing written"
