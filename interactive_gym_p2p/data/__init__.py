"""Research data: tidy tables (frames, inputs, episodes, events, players, participants) built
from the validation exports and the participant records, as CSV (always) and Parquet (the
``[data]`` extra), and :func:`load` to read them as pandas DataFrames. docs/data.md is the
codebook.

    from interactive_gym_p2p.data import load
    tables = load("study.zip")            # or a tables folder, or a server data directory
    tables["episodes"].groupby("subject_id")["return"].sum()
"""

from __future__ import annotations

from typing import Any

from .codebook import COLUMNS, TABLE_NAMES

__all__ = ["COLUMNS", "TABLE_NAMES", "load"]


def load(path: Any, **kwargs: Any) -> Any:
    """A dict of pandas DataFrames, one per table (needs the ``[data]`` extra); see
    :func:`interactive_gym_p2p.data.loader.load`."""
    from .loader import load as _load

    return _load(path, **kwargs)
