"""The ``progress`` argument of the long calls: ``True`` for a tqdm bar (``tqdm.auto``: a
text bar in a terminal, a widget in a notebook) where tqdm is installed, a callable of
``(phase, done, total)`` for a display of one's own, ``False`` for none.

The compiled module calls the callable from the thread running the call, with the GIL taken
back for the call, at each phase's start and end and at most every 50 ms between; ``done``
and ``total`` count bytes of the capture file.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Optional, Union

from ._warn import warn_at_caller

#: What the compiled module calls: ``callback(phase, done, total)``.
ProgressCallback = Callable[[str, int, int], object]

#: The ``progress`` argument of :func:`memform.report` and the other long calls.
ProgressArg = Union[bool, ProgressCallback]


class TqdmBar:
    """A callback that draws each phase of a call as a tqdm bar of bytes."""

    def __init__(self, tqdm: Callable[..., Any]) -> None:
        self._tqdm = tqdm
        self._bar: Any = None
        self._phase: Optional[str] = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        bar = self._bar
        if bar is None or phase != self._phase or total != bar.total or done < bar.n:
            self.close()
            bar = self._bar = self._tqdm(
                total=total, desc=phase, unit="B", unit_scale=True, unit_divisor=1024
            )
            self._phase = phase
        bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def callback(progress: ProgressArg) -> Iterator[Optional[ProgressCallback]]:
    """The callable that shows ``progress`` (None for no progress), closed afterwards."""
    if progress is False:
        yield None
    elif progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warn_at_caller(
                "progress=True draws its bar with tqdm, which is not installed "
                "(pip install tqdm): no progress shown",
                UserWarning,
            )
            yield None
            return
        bar = TqdmBar(tqdm)
        try:
            yield bar
        finally:
            bar.close()
    elif callable(progress):
        yield progress
    else:
        raise TypeError(
            "progress must be True, False or a callable of (phase, done, total), "
            f"not {type(progress).__name__}"
        )
