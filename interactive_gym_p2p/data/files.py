"""Tables as files: CSV always (stdlib), Parquet when pyarrow is installed (the ``[data]``
extra). A missing value is an empty CSV cell (a null in Parquet); booleans are ``true`` /
``false``; numbers are written as Python writes them (shortest round-trip text)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any, Iterable

from .codebook import column_type
from .tables import PAUSE_EVERY, Pause, Table, no_pause

logger = logging.getLogger(__name__)


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return v


def write_csv(table: Table, out: io.TextIOBase | Any, pause: Pause = no_pause) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(table.columns)
    for i, row in enumerate(table.rows):
        if i % PAUSE_EVERY == 0:
            pause()
        w.writerow([_cell(v) for v in row])


def csv_text(table: Table, pause: Pause = no_pause) -> str:
    buf = io.StringIO()
    write_csv(table, buf, pause)
    return buf.getvalue()


def _text(v: Any) -> str:
    """A non-text value of a text column as the CSV shows it."""
    return str(_cell(v))


def _parse(value: str, type_: str) -> Any:
    if value == "":
        return None
    if type_ == "int":
        return int(value)
    if type_ == "float":
        return float(value)
    if type_ == "bool":
        return value == "true"
    return value


def read_csv(name: str, text: str, pause: Pause = no_pause) -> Table:
    """A table written by :func:`write_csv`, with typed values (the codebook's types)."""
    reader = csv.reader(io.StringIO(text))
    columns = next(reader)
    types = [column_type(name, c) for c in columns]
    rows = []
    for r in reader:
        if len(rows) % PAUSE_EVERY == 0:
            pause()
        rows.append([_parse(v, types[i]) for i, v in enumerate(r)])
    return Table(name, columns, rows)


def merge(name: str, tables: Iterable[Table]) -> Table:
    """One table from several (e.g. every game's frames): the union of their columns, in order of
    first appearance, cells missing from a table left empty."""
    tables = list(tables)
    columns: list[str] = []
    for t in tables:
        for c in t.columns:
            if c not in columns:
                columns.append(c)
    out = Table(name, columns)
    for t in tables:
        if t.columns == columns:
            out.rows.extend(t.rows)
            continue
        where = [columns.index(c) for c in t.columns]
        for r in t.rows:
            row: list[Any] = [None] * len(columns)
            for i, v in zip(where, r):
                row[i] = v
            out.rows.append(row)
    return out


def arrow_table(table: Table, pause: Pause = no_pause) -> Any:
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string()}
    arrays = []
    for i, c in enumerate(table.columns):
        pause()
        t = column_type(table.name, c)
        values = [r[i] for r in table.rows]
        if t == "float":
            values = [None if v is None else float(v) for v in values]
        elif t == "string":
            values = [v if v is None or isinstance(v, str) else _text(v) for v in values]
        arrays.append(pa.array(values, type=types[t]))
    return pa.Table.from_arrays(arrays, names=table.columns)


def write_parquet(table: Table, path: Path | Any, pause: Pause = no_pause) -> None:
    import pyarrow.parquet as pq

    data = arrow_table(table, pause)
    pause()
    pq.write_table(data, path, compression="zstd")


def write_tables(tables: dict[str, Table], out_dir: Path, formats: Iterable[str] = ("csv",)) -> list[Path]:
    """Write each table as ``<name>.csv`` (and ``<name>.parquet``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    formats = list(formats)
    if "parquet" in formats and not parquet_available():
        raise RuntimeError("Parquet needs pyarrow: pip install 'interactive-gym-p2p[data]'")
    for name, table in tables.items():
        if "csv" in formats:
            path = out_dir / f"{name}.csv"
            with path.open("w", encoding="utf-8", newline="") as f:
                write_csv(table, f)
            written.append(path)
        if "parquet" in formats:
            path = out_dir / f"{name}.parquet"
            write_parquet(table, path)
            written.append(path)
    return written
