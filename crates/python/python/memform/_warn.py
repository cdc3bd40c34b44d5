"""Warnings pointed at the user's line: the first frame outside the memform package (and
the ``contextlib`` machinery of its ``with`` blocks), however deep inside memform the
warning is raised. Python 3.12's ``skip_file_prefixes``, for every Python supported."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from types import FrameType
from typing import Optional, Type

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONTEXTLIB = contextlib.__file__


def warn_at_caller(message: str, category: Type[Warning]) -> None:
    """``warnings.warn(message, category)`` with the warning's file and line those of the
    first caller outside memform."""
    level = 1
    frame: Optional[FrameType] = sys._getframe(0)
    while frame is not None and (
        os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE)
        or frame.f_code.co_filename == _CONTEXTLIB
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
