"""A temporary folder that lives as long as any of the objects tied to it: the result of
:func:`memform.events` and each of its datasets, so that
``memform.events(capture)["allocations"].count_rows()`` reads files that are still there."""

from __future__ import annotations

import tempfile
import weakref


class SharedTemporaryFolder:
    """A temporary folder, removed once the last object tied to it is garbage (or at the
    interpreter's exit)."""

    def __init__(self, prefix: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix=prefix)
        self.name = self._folder.name
        self._tied = 0

    def tie(self, owner: object) -> None:
        """Keeps the folder while ``owner`` lives."""
        self._tied += 1
        weakref.finalize(owner, self._release)

    def _release(self) -> None:
        self._tied -= 1
        if self._tied == 0:
            self._folder.cleanup()
