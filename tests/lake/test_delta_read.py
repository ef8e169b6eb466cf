"""Reading chosen files of a Delta table: many local files are read in one scan, with the rows,
order, partition values and nulls that reading them one by one gives."""

import re
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lakes import DAY1
from trajectory_assets.errors import LostDataFileError
from trajectory_assets.lake import delta_commit, delta_read
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta import DataFile
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import write_data_file
from trajectory_assets.schema import TableSpec

SCHEMA = pa.schema(
    [
        ("dt", pa.string()),
        ("app_id", pa.string()),
        ("session_id", pa.string()),
        ("n", pa.int64()),
        ("added", pa.string()),  # declared after the first files were written
    ]
)
SPEC = TableSpec("t", SCHEMA, ("app_id",), ("app_id", "session_id"))


def _table(lake: Lake, apps: int) -> list[DataFile]:
    """A day with a file per app (one app null), the first half written before `added`."""
    older = TableSpec("t", SCHEMA.remove(4), ("app_id",), ("app_id", "session_id"))
    files = []
    for i in range(apps):
        app = None if i == 3 else f"app{i:03d}"
        spec = older if i < apps // 2 else SPEC
        rows = {"dt": [DAY1] * 2, "app_id": [app] * 2, "session_id": [f"s{i}", f"t{i}"]}
        rows |= {"n": [i, -i]} | ({"added": ["x", None]} if spec is SPEC else {})
        table = pa.table(rows, spec.schema)
        values = {"dt": DAY1, "app_id": app}
        files.append(write_data_file(lake, spec, values, table, f"part-{i:04d}.parquet"))
    delta_commit.commit_day(lake, SPEC, DAY1, files, {}, since_version=None)
    return Catalog(lake, {"t": SPEC}).files("t", DAY1)


def test_many_files_read_in_one_scan_as_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    files = _table(lake, 3 * delta_read.MANY_FILES)
    with monkeypatch.context() as one_by_one:  # not a file read alone: one scan did it all
        one_by_one.setattr(delta_read, "_read_columns", None)
        scanned = delta_read.read_files(lake, SPEC, files)
        some = delta_read.read_files(lake, SPEC, files, ["n", "app_id", "added"])
    monkeypatch.setattr(delta_read, "MANY_FILES", 10**9)
    assert scanned.equals(delta_read.read_files(lake, SPEC, files))
    assert some.equals(delta_read.read_files(lake, SPEC, files, ["n", "app_id", "added"]))
    assert scanned.num_rows == 2 * len(files) and scanned.schema == SCHEMA
    assert scanned["app_id"].null_count == 2  # the null partition's rows
    assert set(scanned.filter(pa.compute.equal(scanned["n"], 0))["app_id"].to_pylist()) == {
        "app000"
    }
    assert scanned["added"].null_count == len(files) + len(files) // 2  # older files: null


def test_a_file_gone_is_named_whatever_the_read(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    files = _table(lake, delta_read.MANY_FILES + 1)
    gone = files[5]
    Path(lake.path("t", gone.path)).unlink()
    with pytest.raises(LostDataFileError, match=re.escape(gone.path.rsplit("/", 1)[-1])):
        delta_read.read_files(lake, SPEC, files)
