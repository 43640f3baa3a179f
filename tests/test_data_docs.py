"""docs/data.md is the codebook: it names every column the tables have, and its pandas
example runs against a real study zip and reproduces every player's score."""

from __future__ import annotations

import json
import re
from pathlib import Path

from interactive_gym_p2p.data.codebook import COLUMNS, TABLE_NAMES
from interactive_gym_p2p.data.study import write_study_zip
from interactive_gym_p2p.validation.storage import ExportStore

from data_helpers import gem_rush_exports

DOC = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()


def test_every_codebook_column_is_in_the_document() -> None:
    for table in TABLE_NAMES:
        section = DOC.split(f"### {table}:", 1)[1].split("\n### ", 1)[0]
        for column in COLUMNS[table]:
            assert f"`{column.name}`" in section, f"{table}.{column.name} is missing from docs/data.md"


def test_the_pandas_example_runs_on_a_study_zip(tmp_path: Path) -> None:
    store = ExportStore(tmp_path / "data" / "exports")
    for doc in gem_rush_exports("g-doc", seed=9):
        store.store_export(json.dumps(doc).encode())
    with (tmp_path / "study.zip").open("wb") as f:
        write_study_zip(tmp_path / "data", f)
    code = re.search(r"## Loading them in pandas\n\n```python\n(.*?)```", DOC, re.S).group(1)
    namespace: dict = {}
    exec(compile(code.replace('"study.zip"', repr(str(tmp_path / "study.zip"))), "docs/data.md", "exec"), namespace)
    assert len(namespace["scores"]) == 4 and namespace["scores"].sum() == namespace["returns"].sum()
