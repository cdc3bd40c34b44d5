"""Type stubs of the compiled module ``memform._memform`` (crates/python/src)."""

from typing import List, Optional, Tuple

__version__: str

class CaptureError(Exception):
    """A capture file that memform cannot read."""

    path: str
    """The capture file."""
    offset: Optional[int]
    """The byte where it goes wrong, or None."""
    decompressed: bool
    """Whether ``offset`` counts in the decompressed record stream of an LZ4 capture."""

class ReportStream:
    """The rows of one report as Arrow record batches (Arrow PyCapsule protocol)."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...

def report_stream(
    capture: str, *, leaks: bool = False, temporary_threshold: Optional[int] = None
) -> Tuple[ReportStream, Optional[str]]: ...
def transform(
    capture: str,
    format: str,
    output: Optional[str] = None,
    *,
    force: bool = False,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
) -> Tuple[str, Optional[str]]: ...
def stats(capture: str, *, num_largest: int = ...) -> str: ...
def diff_stream(
    base: str,
    new: str,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    by: str = "stack",
) -> ReportStream: ...
def dataset_part(dataset: str, capture: str) -> str: ...
def main(argv: List[str]) -> int: ...
