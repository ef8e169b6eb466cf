"""A table's files as a pyarrow dataset: each file skipped only on what its log entry states."""

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

from tests.lakes import DAY1, write_lake
from tests.runs import run_operator
from trajectory_assets.lake.delta_dataset import _unbounded, delta_dataset
from trajectory_assets.operators import Sessionize

ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-v2:0"


def test_a_model_longer_than_the_bounds_hides_no_file_from_a_filter(tmp_path: Path) -> None:
    """A Bedrock ARN of 90 characters left `model` without bounds in its file, and deltalake's
    dataset dropped that file from `WHERE model = 'gpt-4o'`: a day's calls of every model."""
    t0 = dt.datetime(2026, 11, 18, 8, tzinfo=dt.UTC)
    call = {"event_type": "llm_call", "turn_index": 0, "latency_ms": 5.0, "output_tokens": 9}
    events = [
        [{"event_id": f"e{i}", "ts": t0, "model": model, **call}]
        for i, model in enumerate(("gpt-4o", ARN))
    ]
    lake = write_lake(tmp_path, events)
    run_operator(Sessionize(), lake, [DAY1])
    table = DeltaTable(lake.path("llm_calls"))
    stated = [str(f.partition_expression) for f in table.to_pyarrow_dataset().get_fragments()]
    assert not any(_unbounded(guarantee) for guarantee in stated)  # nothing to mend
    assert any("is_null(" in guarantee for guarantee in stated)  # an all-null column: no bound
    gpt = ds.field("model") == "gpt-4o"
    for found in (table.to_pyarrow_dataset(), delta_dataset(table)):
        assert found.to_table(filter=gpt)["model"].to_pylist() == ["gpt-4o"]
        assert found.to_table(filter=ds.field("model") == ARN).num_rows == 1


def test_files_whose_statistics_leave_a_column_out_are_read_for_a_filter_on_it(
    tmp_path: Path,
) -> None:
    """Tables written before 0.5.0 state no bounds for text over 64 characters: such a file is
    read for any filter, and every filter still gives what the rows hold (a partition value
    spelled in its folder as `a%20b`, a column null in some rows, times Delta states in
    milliseconds)."""
    table = pa.table(
        {
            "dt": ["2026-11-01", "2026-11-01", "2026-11-02", None],
            "app": ["a b", "a b", "é/x", "c"],
            "session_id": ["short", "x" * 65, "y", "z"],
            "model": ["m1", None, "m2", None],
            "n": pa.array([None, None, 3, 4], pa.int64()),
            "ts": pa.array([1_500, 2_000_000, 3_000_000, 4], pa.timestamp("us", "UTC")),
        }
    )
    write_deltalake(str(tmp_path), table, partition_by=["dt", "app"])
    (log,) = (tmp_path / "_delta_log").glob("*.json")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    for entry in entries:  # as 0.4.0 wrote them: no bounds for the long text
        if "add" in entry:
            stats = json.loads(entry["add"]["stats"])
            stats["minValues"].pop("session_id"), stats["maxValues"].pop("session_id")
            entry["add"]["stats"] = json.dumps(stats)
    log.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    found = delta_dataset(DeltaTable(str(tmp_path)))
    assert all(" >= null[" not in str(f.partition_expression) for f in found.get_fragments())
    rows = found.to_table().to_pylist()
    at = pa.scalar(1_500, pa.timestamp("us", "UTC"))  # 1.5 ms: its file's maximum says 1 ms
    for where, wanted in (
        (ds.field("session_id") == "short", lambda r: r["session_id"] == "short"),
        (ds.field("session_id") == "x" * 65, lambda r: r["session_id"] == "x" * 65),
        (ds.field("app") == "a b", lambda r: r["app"] == "a b"),
        (ds.field("app") == "é/x", lambda r: r["app"] == "é/x"),
        (ds.field("dt").is_null(), lambda r: r["dt"] is None),
        (ds.field("model").is_null(), lambda r: r["model"] is None),
        (ds.field("model").is_valid(), lambda r: r["model"] is not None),
        (ds.field("model") == "m1", lambda r: r["model"] == "m1"),
        (ds.field("n").is_null(), lambda r: r["n"] is None),
        (ds.field("n") > 3, lambda r: r["n"] is not None and r["n"] > 3),
        (ds.field("ts") == at, lambda r: r["ts"] == at.as_py()),
    ):
        got = sorted(r["session_id"] for r in found.to_table(filter=where).to_pylist())
        assert got == sorted(r["session_id"] for r in rows if wanted(r)), where
