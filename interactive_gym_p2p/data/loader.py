"""``load(path)``: the research tables as pandas DataFrames (the ``[data]`` extra).

``path`` may be a study zip (the researcher page's or ``exports download --study``), a folder
of tables (``exports table -o DIR``: ``frames.csv`` ...), or a server data directory / export
store (the tables are built on the spot). Parquet files are read when present and pyarrow is
installed, else the CSV files. Columns get the codebook's types: ``Int64`` and ``boolean``
(nullable), ``float64``, ``string``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Callable

from .codebook import TABLE_NAMES, column_type
from .files import parquet_available

_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean", "string": "string"}


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("load() needs pandas: pip install 'interactive-gym-p2p[data]'") from None
    return pd


def _typed(pd: Any, name: str, df: Any) -> Any:
    for c in df.columns:
        t = column_type(name, c)
        if t == "bool" and not pd.api.types.is_bool_dtype(df[c].dtype):
            df[c] = df[c].map({"true": True, "false": False, True: True, False: False}).astype(object)
        df[c] = df[c].astype(_DTYPES[t])
        if c.startswith("info."):
            df[c] = _info_column(pd, df[c])
    return df


def _info_column(pd: Any, col: Any) -> Any:
    """A record_info column of numbers (or of true/false) as numbers (booleans), else text."""
    present = col.dropna()
    if len(present) > 0 and present.isin(["true", "false"]).all():
        return col.map({"true": True, "false": False}).astype("boolean")
    try:
        return pd.to_numeric(col)
    except (ValueError, TypeError):
        return col


def _read(pd: Any, name: str, opener: Callable[[str], bytes | None]) -> Any:
    if parquet_available():
        data = opener(f"{name}.parquet")
        if data is not None:
            return _typed(pd, name, pd.read_parquet(io.BytesIO(data)))
    data = opener(f"{name}.csv")
    if data is None:
        return None
    # Every cell as text first: the codebook, not pandas' guess, decides each column's type.
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    return _typed(pd, name, df)


def load(path: Any, *, tables: tuple[str, ...] = TABLE_NAMES) -> dict[str, Any]:
    """``{table name: DataFrame}`` for every table found (see the module docstring)."""
    pd = _pandas()
    p = Path(path)
    out: dict[str, Any] = {}
    if p.is_file() and zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())

            def from_zip(name: str) -> bytes | None:
                for candidate in (f"tables/{name}", name):
                    if candidate in names:
                        return z.read(candidate)
                return None

            for name in tables:
                df = _read(pd, name, from_zip)
                if df is not None:
                    out[name] = df
        if not out:
            raise FileNotFoundError(f"{p}: no research tables in this zip (tables/frames.csv, ...)")
        return out
    if p.is_dir() and any((p / f"{n}.csv").exists() or (p / f"{n}.parquet").exists() for n in tables):
        def from_dir(name: str) -> bytes | None:
            f = p / name
            return f.read_bytes() if f.exists() else None

        for name in tables:
            df = _read(pd, name, from_dir)
            if df is not None:
                out[name] = df
        return out
    if p.is_dir():
        from .files import csv_text
        from .study import study_tables

        built = study_tables(p)
        for name in tables:
            out[name] = _read(pd, name, lambda n, t=built[name]: csv_text(t).encode() if n.endswith(".csv") else None)
        return out
    raise FileNotFoundError(f"{p}: not a study zip, a tables folder or a data directory")
