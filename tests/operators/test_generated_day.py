"""Every new operator on a generated day of raw events: batching never changes a table, the new
tables reconcile with each other and with sessions, and the daily report renders."""

import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.operators.builders import run_two_phase
from trajectory_assets.batch import Batch
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import OpContext
from trajectory_assets.operators import (
    TIER_B,
    EvalRuns,
    ModelComparisons,
    Sessionize,
    ToolStats,
    TurnFeatures,
)
from trajectory_assets.report import render_daily_report
from trajectory_assets.schema import EVENTS, RAW_EVENTS
from trajectory_assets.synth import SynthConfig, generate_lake

DAY = "2026-11-18"


def _read_raw(root: Path) -> pa.Table:
    parts = []
    for path in sorted((root / "raw_events").rglob("*.parquet")):
        table = pq.read_table(path, schema=RAW_EVENTS)
        rel = str(path.relative_to(root))
        table = table.append_column("dt", pa.array([DAY] * table.num_rows, pa.string()))
        table = table.append_column("source_file", pa.array([rel] * table.num_rows, pa.string()))
        table = table.append_column("source_row", pa.array(range(table.num_rows), pa.int64()))
        table = table.append_column("unreadable", pa.nulls(table.num_rows, pa.string()))
        parts.append(table.select(EVENTS.names).cast(EVENTS))
    return pa.concat_tables(parts)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    root = tmp_path_factory.mktemp("generated")
    config = SynthConfig(start=dt.date.fromisoformat(DAY), days=1, sessions_per_day=90, seed=5)
    generate_lake(Lake(str(root)), config)
    return _read_raw(root)


def _sessionize(events: pa.Table, n_batches: int) -> dict[str, pa.Table]:
    """Sessionize over `n_batches` batches of whole sessions, outputs concatenated and sorted
    by each table's keys, as the engine commits them."""
    keys = sorted(
        {
            (a, s)
            for a, s in zip(
                events["app_id"].to_pylist(), events["session_id"].to_pylist(), strict=True
            )
        }
    )
    owner = {key: i % n_batches for i, key in enumerate(keys)}
    op = Sessionize()
    outputs: dict[str, list[pa.Table]] = {name: [] for name in op.output_names}
    for b in range(n_batches):
        mask = [
            owner[(a, s)] == b
            for a, s in zip(
                events["app_id"].to_pylist(), events["session_id"].to_pylist(), strict=True
            )
        ]
        part = events.filter(pa.array(mask))
        batch = Batch({"events": part})
        try:
            for name, table in normalise(
                op, op.transform(OpContext(DAY, f"b{b}"), batch), DAY
            ).items():
                outputs[name].append(table)
        finally:
            batch.close()
    return {
        name: normalise(op, {n: pa.concat_tables(t) for n, t in outputs.items()}, DAY)[name]
        for name in outputs
    }


@pytest.fixture(scope="module")
def tables(raw: pa.Table) -> dict[str, pa.Table]:
    out = _sessionize(raw, 1)
    features = normalise(
        TurnFeatures(),
        TurnFeatures().transform(
            OpContext(DAY, "b0"), Batch({"events": raw, "turns": out["turns"]})
        ),
        DAY,
    )
    out.update(features)
    out["tool_stats"] = run_two_phase(ToolStats(), "tool_calls", out["tool_calls"], 1, DAY)
    out["eval_runs"] = run_two_phase(EvalRuns(), "sessions", out["sessions"], 1, DAY)
    out["model_comparisons"] = run_two_phase(
        ModelComparisons(), "sessions", out["sessions"], 1, DAY
    )
    return out


def test_sessionize_is_the_same_whatever_the_batches(raw, tables):
    for n_batches in (3, 7):
        split = _sessionize(raw, n_batches)
        for name, table in split.items():
            assert table.equals(tables[name]), (name, n_batches)


@pytest.mark.parametrize("n_batches", [2, 5])
def test_two_phase_tables_are_the_same_whatever_the_batches(tables, n_batches):
    assert run_two_phase(ToolStats(), "tool_calls", tables["tool_calls"], n_batches, DAY).equals(
        tables["tool_stats"]
    )
    assert run_two_phase(EvalRuns(), "sessions", tables["sessions"], n_batches, DAY).equals(
        tables["eval_runs"]
    )
    assert run_two_phase(ModelComparisons(), "sessions", tables["sessions"], n_batches, DAY).equals(
        tables["model_comparisons"]
    )


def _sum(table: pa.Table, column: str) -> float:
    return sum(v for v in table[column].to_pylist() if v is not None)


def test_tables_reconcile(tables):
    sessions, llm, tools = tables["sessions"], tables["llm_calls"], tables["tool_calls"]
    for name in ("llm_calls", "tool_calls", "tool_stats", "model_comparisons"):
        assert tables[name].schema == TIER_B[name].schema
    assert llm.num_rows == _sum(sessions, "n_llm_calls")
    assert tools.num_rows == _sum(sessions, "n_tool_calls") == _sum(tables["tool_stats"], "n_calls")
    assert _sum(sessions, "cost_usd") == pytest.approx(_sum(llm, "cost_usd"), rel=1e-9)
    unpriced = sum(c is None for c in llm["cost_usd"].to_pylist())
    assert unpriced == _sum(sessions, "n_llm_calls_unpriced")
    # the generator's catalogue has priced models (gpt-4o, claude-sonnet-4) and one that
    # genai-prices does not know by that name (llama-3.1-70b)
    priced = {
        m
        for m, c in zip(llm["model"].to_pylist(), llm["cost_usd"].to_pylist(), strict=True)
        if c is not None
    }
    assert {"gpt-4o", "claude-sonnet-4"} <= priced
    assert "llama-3.1-70b" not in priced
    assert _sum(tables["eval_runs"], "cost_usd") == pytest.approx(
        _sum(sessions.filter(pa.compute.is_valid(sessions["eval_benchmark"])), "cost_usd")
    )
    # loops: turns' loops are within sessions' loops
    by_session = {
        (r["app_id"], r["session_id"]): r["max_identical_tool_run"] for r in sessions.to_pylist()
    }
    for r in tables["turn_features"].to_pylist():
        assert r["max_identical_tool_run"] <= by_session[(r["app_id"], r["session_id"])]
    assert any(sessions["loop_detected"].to_pylist())


def test_daily_report_renders_with_a_valid_png(tables, tmp_path):
    report = render_daily_report(DAY, tables)
    assert report.png.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    with Image.open(io.BytesIO(report.png)) as image:
        image.verify()
    with Image.open(io.BytesIO(report.png)) as image:
        assert image.format == "PNG"
        assert image.size == (1300, 900)
    page = report.html
    assert page.startswith("<!DOCTYPE html>")
    for heading in (
        "Sessions and cost by app",
        "Latency percentiles by model",
        "Top failing tools",
        "Eval pass rates",
        "Model A vs model B",
        "Loops detected",
    ):
        assert heading in page
    assert "data:image/png;base64," in page
    assert report.summary["sessions"] == tables["sessions"].num_rows
    assert report.summary["cost_usd"] == pytest.approx(_sum(tables["sessions"], "cost_usd"))
    assert report.summary["loops_detected"] == sum(tables["sessions"]["loop_detected"].to_pylist())
    (tmp_path / "report.html").write_text(page)
    (tmp_path / "chart.png").write_bytes(report.png)
