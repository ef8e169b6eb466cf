"""A table's files as a pyarrow dataset: each file skipped only on what its log entry states."""

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable, write_deltalake

from tests.lakes import DAY1, write_lake
from tests.runs import run_operator
from trajectory_assets.lake.delta_dataset import delta_dataset
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
    gpt = ds.field("model") == "gpt-4o"
    for found in (table.to_pyarrow_dataset(), delta_dataset(table)):
        assert found.to_table(filter=gpt)["model"].to_pylist() == ["gpt-4o"]
        assert found.to_table(filter=ds.field("model") == ARN).num_rows == 1


def test_files_whose_statistics_leave_a_column_out_are_read_for_a_filter_on_it(
    tmp_path: Path,
) -> None:
    """Tables written before 0.5.0 state no bounds for text over 64 characters: such a file is
    read, and its partition values, nulls and other bounds still skip the others."""
    table = pa.table(
        {
            "dt": ["2026-11-01", "2026-11-02", None],
            "session_id": ["short", "x" * 65, "z"],
            "n": pa.array([None, None, 3], pa.int64()),
            "ts": pa.array([1_500, 2_000_000, 3_000_000], pa.timestamp("us", "UTC")),
        }
    )
    write_deltalake(str(tmp_path), table, partition_by=["dt"])
    (log,) = (tmp_path / "_delta_log").glob("*.json")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    for entry in entries:  # as 0.4.0 wrote them: no bounds for the long text
        if "add" in entry:
            stats = json.loads(entry["add"]["stats"])
            stats["minValues"].pop("session_id"), stats["maxValues"].pop("session_id")
            entry["add"]["stats"] = json.dumps(stats)
    log.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    found = delta_dataset(DeltaTable(str(tmp_path)))
    rows = {
        r["session_id"]: r
        for r in found.to_table(filter=ds.field("session_id") == "short").to_pylist()
    }
    assert list(rows) == ["short"] and rows["short"]["dt"] == "2026-11-01"
    assert found.to_table(filter=ds.field("dt").is_null())["session_id"].to_pylist() == ["z"]
    assert found.to_table(filter=ds.field("n").is_null()).num_rows == 2
    at = pa.scalar(1_500, pa.timestamp("us", "UTC"))  # a time Delta states in milliseconds
    assert found.to_table(filter=ds.field("ts") == at)["session_id"].to_pylist() == ["short"]
    guarantees = [str(f.partition_expression) for f in found.get_fragments()]
    assert any('(dt == "2026-11-02")' in g and "session_id >=" not in g for g in guarantees)
