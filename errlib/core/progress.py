"""Progress bars that work in a terminal, in Jupyter and under papermill."""
from __future__ import annotations

import os

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, disable: bool = False, **kwargs):
    """``tqdm.auto`` with errlib's defaults; ``ERRLIB_PROGRESS=0`` silences every bar."""
    if os.environ.get("ERRLIB_PROGRESS", "1").lower() in ("0", "false", "no"):
        disable = True
    kwargs.setdefault("leave", False)
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, disable=disable, **kwargs)
