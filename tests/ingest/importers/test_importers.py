"""Every importer on real files: what lands in the lake equals what the source files state.

One lake holds every format (one app per format, plus `jsonl`: the OpenHands events exported to
JSON Lines and imported back), and the Tier B operators run once over it, so the whole chain
source → raw_events → sessions is checked against independent counts of the sources.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.ingest import real
from tests.ingest.lakes import materialize, raw_events, raw_files
from tests.runs import lake_catalog
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import IngestReport, ingest_files

SOURCES: dict[str, list[Path]] = {
    "otel": real.OTEL,
    "inspect": real.INSPECT + real.INSPECT_EDGE,
    "openhands": real.OPENHANDS,
    "swe-agent": real.SWE_AGENT,
    "tau-bench": real.TAU_BENCH,
}
EXPECT: dict[str, Callable[[list[Path]], real.Expected]] = {
    "otel": real.expect_otel,
    "inspect": real.expect_inspect,
    "openhands": real.expect_openhands,
    "swe-agent": real.expect_swe_agent,
    "tau-bench": real.expect_tau_bench,
    "jsonl": lambda _paths: real.expect_openhands(real.OPENHANDS),
}
FORMATS = tuple(EXPECT)


@dataclass
class Imported:
    root: Path
    reports: dict[str, IngestReport]
    raw: pa.Table
    tier_b: dict[str, pa.Table]


def _export_jsonl(raw: pa.Table, app_id: str, path: Path) -> None:
    """The app's raw events as Tier A JSON Lines, the way another producer would write them."""
    rows = raw.filter(pc.equal(raw["app_id"], app_id)).drop_columns(["dt", "app_id"]).to_pylist()
    with path.open("w") as handle:
        for row in rows:
            row["ts"] = row["ts"].isoformat()
            handle.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    root = tmp_path_factory.mktemp("ingest") / "lake"
    reports = {fmt: ingest_files(str(root), fmt, paths) for fmt, paths in SOURCES.items()}
    export = root.parent / "openhands.jsonl"
    _export_jsonl(raw_events(root), "openhands", export)
    reports["jsonl"] = ingest_files(str(root), "jsonl", [export])
    return Imported(root, reports, raw_events(root), materialize(root))


def _app(table: pa.Table, app_id: str) -> pa.Table:
    return table.filter(pc.equal(table["app_id"], app_id))


def _sum(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_real_file_imports(imported: Imported, fmt: str) -> None:
    report = imported.reports[fmt]
    assert report.files, "the fixture set has files of every format"
    assert [(f.path, f.reason) for f in report.failed] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_raw_events_equal_what_the_source_states(imported: Imported, fmt: str) -> None:
    """Sessions, llm_calls, tool_calls, errors, eval results and tokens, counted in the raw lake."""
    expected = EXPECT[fmt](SOURCES.get(fmt, []))
    raw = _app(imported.raw, fmt)
    assert len(set(raw["event_id"].to_pylist())) == raw.num_rows, "no duplicate events"
    kinds = raw["event_type"].to_pylist()
    assert len(set(raw["session_id"].to_pylist())) == len(expected.sessions)
    assert kinds.count("llm_call") == expected.llm_calls
    assert kinds.count("tool_call") == expected.tool_calls
    assert raw.filter(pc.is_valid(raw["error_type"])).num_rows == expected.errors
    assert kinds.count("eval_result") == expected.eval_results
    assert _sum(raw, "input_tokens") == expected.input_tokens
    assert _sum(raw, "output_tokens") == expected.output_tokens
    assert _sum(raw, "cache_tokens") == expected.cache_tokens


@pytest.mark.parametrize("fmt", FORMATS)
def test_tier_b_sessions_materialize_from_the_import(imported: Imported, fmt: str) -> None:
    """The operators accept every imported event (nothing rejected) and see the same numbers."""
    expected = EXPECT[fmt](SOURCES.get(fmt, []))
    sessions = _app(imported.tier_b["sessions"], fmt)
    assert sessions.num_rows == len(expected.sessions)
    assert _sum(sessions, "n_llm_calls") == expected.llm_calls
    assert _sum(sessions, "n_tool_calls") == expected.tool_calls
    assert _sum(sessions, "n_errors") == expected.errors
    assert _sum(sessions, "input_tokens") == expected.input_tokens
    assert _sum(sessions, "output_tokens") == expected.output_tokens
    assert (
        sessions.filter(pc.is_valid(sessions["eval_benchmark"])).num_rows == expected.eval_results
    )
    assert _sum(sessions, "eval_passed") == expected.passed
    # an OTel trace whose root span is not in the file has no status: `unknown`
    allowed = {"success", "failure"} | ({"unknown"} if fmt == "otel" else set())
    assert set(sessions["status"].to_pylist()) <= allowed
    assert _app(imported.tier_b["errors"], fmt).num_rows == expected.errors


def test_nothing_imported_is_rejected_by_the_pipeline(imported: Imported) -> None:
    from trajectory_assets.lake.fs import Lake

    assert lake_catalog(Lake(str(imported.root))).read("rejected_events").num_rows == 0


def test_each_session_lives_under_the_day_of_its_first_event(imported: Imported) -> None:
    raw = imported.raw
    firsts = raw.group_by(["app_id", "session_id"]).aggregate([("ts", "min"), ("dt", "distinct")])
    for row in firsts.to_pylist():
        assert row["dt_distinct"] == [row["ts_min"].date().isoformat()], row["session_id"]


def test_formats_without_time_get_deterministic_synthesized_times(imported: Imported) -> None:
    for app in ("tau-bench", "swe-agent"):
        raw = _app(imported.raw, app)
        assert set(raw["dt"].to_pylist()) == {"1970-01-01"}
    tau = _app(imported.raw, "tau-bench").sort_by(
        [("session_id", "ascending"), ("seq", "ascending")]
    )
    first = tau.slice(0, 3).to_pylist()
    assert [r["ts"] for r in first] == [
        dt.datetime(1970, 1, 1, 0, 0, s, tzinfo=dt.UTC) for s in range(3)
    ]


def test_eval_results_carry_the_payload_the_pipeline_needs(imported: Imported) -> None:
    raw = imported.raw
    evals = raw.filter(pc.equal(raw["event_type"], "eval_result"))
    assert evals.num_rows > 0
    for payload in evals["payload"].to_pylist():
        parsed = json.loads(payload)
        assert {"benchmark", "task_id", "run_id", "passed", "score"} <= set(parsed)
        assert isinstance(parsed["passed"], bool)


def test_loops_compare_what_each_tool_call_did(imported: Imported) -> None:
    """SWE-agent's commands and OpenHands' action arguments were not the payload's `arguments`:
    every hash was null, so eleven `curl`s of eleven URLs read as one call repeated eleven times
    (8 of 22 SWE-agent sessions flagged as loops)."""
    calls = imported.tier_b["tool_calls"]
    for app in ("swe-agent", "openhands"):
        hashes = _app(calls, app)["arguments_hash"]
        assert hashes.null_count == 0, app
    sessions = _app(imported.tier_b["sessions"], "swe-agent")
    longest = pc.max(sessions["max_identical_tool_run"]).as_py()
    assert longest == real.expect_swe_agent(real.SWE_AGENT).longest_repeat


def test_a_long_tool_output_keeps_its_last_lines(imported: Imported) -> None:
    """An OpenHands observation of 2,053 characters ends with its cause (`E: Unable to locate
    package llvm-dev`); the importers kept the first 2,000 characters only."""
    payloads = _app(imported.raw, "openhands")["payload"].to_pylist()
    assert [p for p in payloads if p and "Unable to locate package llvm-dev" in p]


def test_tau_bench_eval_runs_pass_rate_equals_the_file(imported: Imported) -> None:
    expected = real.expect_tau_bench(real.TAU_BENCH)
    runs = imported.tier_b["eval_runs"]
    tau = runs.filter(pc.equal(runs["benchmark"], "tau-bench-airline")).to_pylist()
    assert len(tau) == 1
    assert tau[0]["model"] == "gpt-4o"
    assert tau[0]["n_attempts"] == len(expected.sessions)
    assert tau[0]["pass_rate"] == pytest.approx(expected.passed / len(expected.sessions))


def test_reimporting_every_file_adds_nothing(imported: Imported) -> None:
    before = {p: p.stat().st_mtime_ns for p in raw_files(imported.root)}
    for fmt, paths in SOURCES.items():
        again = ingest_files(str(imported.root), fmt, paths)
        assert again.events_written == 0 and not again.failed and not again.changed
        assert again.events_skipped == sum(f.events for f in again.files) > 0
    assert {p: p.stat().st_mtime_ns for p in raw_files(imported.root)} == before


def test_inspect_totals_equal_the_logs_own_stats() -> None:
    """Token totals per log equal `stats.model_usage`, the totals Inspect records per run."""
    for path in real.INSPECT:
        header, _samples = real.inspect_log(path)
        stated = header.get("stats", {}).get("model_usage", {})
        expected = real.expect_inspect([path])
        assert expected.input_tokens == sum(real.inspect_input(u) for u in stated.values()), path
        assert expected.output_tokens == sum(u["output_tokens"] for u in stated.values()), path


def test_inspect_eval_and_json_encodings_map_to_the_same_events() -> None:
    folder = real.FIXTURES / "inspect_ai/logs/tests/log/test_eval_log"
    parse = IMPORTERS["inspect"].parse
    from_eval = sorted(parse(folder / "log_formats.eval"), key=lambda r: r["event_id"])
    from_json = sorted(parse(folder / "log_formats.json"), key=lambda r: r["event_id"])
    assert from_eval == from_json


def test_zstd_compressed_eval_logs_are_read() -> None:
    """Recent Inspect writes zstd ZIP entries, which Python's zipfile cannot read before 3.14."""
    for path in [p for p in real.INSPECT_EDGE if p.name == "retry-2-then-success.eval"]:
        rows = list(IMPORTERS["inspect"].parse(path))
        assert {r["error_type"] for r in rows if r["error_type"]} == {"_Transient"}, path


def test_a_broken_file_is_reported_and_the_others_import(tmp_path: Path) -> None:
    good = real.OTEL[:2]
    report = ingest_files(str(tmp_path / "lake"), "otel", [*good, *real.OTEL_BROKEN])
    assert [f.path for f in report.ok] == [str(p) for p in good]
    assert [f.path for f in report.failed] == [str(p) for p in real.OTEL_BROKEN]
    assert "merge-conflict" in report.failed[0].reason
    assert report.events_written == sum(f.written for f in report.ok) > 0


def test_broken_inspect_logs_are_reported_and_the_others_import(tmp_path: Path) -> None:
    good = [p for p in real.INSPECT if p.suffix == ".eval"]
    truncated = tmp_path / "cut-short.eval"
    truncated.write_bytes(good[0].read_bytes()[:1500])  # a download that stopped half-way
    not_a_log = real.OTEL[0]
    report = ingest_files(str(tmp_path / "lake"), "inspect", [truncated, *good, not_a_log])
    failed = {f.path: f.reason for f in report.failed}
    assert set(failed) == {str(truncated), str(not_a_log)}
    assert "ZIP" in failed[str(truncated)]
    assert "not an Inspect log" in failed[str(not_a_log)]
    assert len(report.ok) == len(good)
    assert report.sessions == len(real.expect_inspect(good).sessions)


@pytest.mark.parametrize(
    ("event", "arguments"),
    [
        (  # the event list of today: `args`, without why or whether it ran
            {"action": "run", "args": {"command": "ls", "thought": "look", "security_risk": 0}},
            {"command": "ls"},
        ),
        (  # the old schema: the arguments beside the event's own keys
            {"action": "run", "command": "ls", "thought": "look", "is_confirmed": "confirmed"},
            {"command": "ls"},
        ),
        ({"action": "think", "args": {"thought": "a plan"}}, {"thought": "a plan"}),
    ],
)
def test_an_openhands_action_s_arguments_are_what_it_does(
    event: dict[str, object], arguments: dict[str, object]
) -> None:
    from trajectory_assets.ingest.importers.openhands import _arguments

    assert _arguments({"id": 3, "timestamp": "t", "source": "agent", **event}) == arguments
