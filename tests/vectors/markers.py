"""The marker decoding of tests/vectors/hashing.json (stdlib only: the Pyodide test runs
this file too). A JSON object with exactly one marker key stands for a value JSON cannot
hold; see the "markers" entry of hashing.json and make_hashing_vectors.py."""

from __future__ import annotations

import math
from typing import Any

_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0.0": -0.0}


def decode(v: Any) -> Any:
    """Vector JSON with markers -> the Python value it stands for."""
    if isinstance(v, dict):
        if len(v) == 1:
            ((key, arg),) = v.items()
            if key == "$float":
                return _FLOATS[arg]
            if key == "$int":
                return int(arg)
            if key == "$tuple":
                return tuple(decode(x) for x in arg)
            if key == "$deep_list":
                out: list = []
                for _ in range(arg - 1):
                    out = [out]
                return out
            if key == "$js":
                raise ValueError("JavaScript-only marker in a Python case")
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v
