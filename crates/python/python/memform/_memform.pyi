"""Type stubs of the compiled module ``memform._memform`` (crates/python/src)."""

from typing import Callable, List, Optional, Tuple, final

_Progress = Optional[Callable[[str, int, int], object]]

__all__ = [
    "__version__",
    "CaptureError",
    "ReportStream",
    "report_stream",
    "transform",
    "stats",
    "diff_stream",
    "dataset_part",
    "main",
]

__version__: str

class CaptureError(Exception):
    """A capture file that memform cannot read."""

    path: str
    """The capture file."""
    offset: Optional[int]
    """The byte where it goes wrong, or None."""
    decompressed: bool
    """Whether ``offset`` counts in the decompressed record stream of an LZ4 capture."""

@final
class ReportStream:
    """The rows of one report as Arrow record batches (Arrow PyCapsule protocol)."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...

def report_stream(
    capture: str,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    progress: _Progress = None,
) -> Tuple[ReportStream, Optional[str]]: ...
def transform(
    capture: str,
    format: str,
    output: Optional[str] = None,
    *,
    force: bool = False,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    progress: _Progress = None,
) -> Tuple[str, Optional[str]]: ...
def stats(capture: str, *, num_largest: int = 5, progress: _Progress = None) -> str: ...
def diff_stream(
    base: str,
    new: str,
    *,
    leaks: bool = False,
    temporary_threshold: Optional[int] = None,
    by: str = "stack",
    progress: _Progress = None,
) -> ReportStream: ...
def dataset_part(dataset: str, capture: str) -> str: ...
def main(argv: List[str]) -> int: ...
