"""The synthetic lake is what every other test and benchmark stands on: it must be reproducible,
follow the Tier A layout exactly, and contain the dirt the operators are meant to handle."""

import datetime
import itertools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import RAW_EVENTS
from trajectory_assets.synth import SynthConfig, SynthSummary, generate_lake

CONFIG = SynthConfig(
    start=datetime.date(2026, 11, 19),
    days=2,
    sessions_per_day=60,
    invalid_rate=0.01,
    duplicate_rate=0.01,
    files_per_session=2,
)
CLEAN = SynthConfig(
    start=CONFIG.start,
    days=CONFIG.days,
    sessions_per_day=CONFIG.sessions_per_day,
    invalid_rate=0.0,
    duplicate_rate=0.0,
    files_per_session=CONFIG.files_per_session,
)


def _files(root: Path) -> list[str]:
    base = root / "raw_events"
    return sorted(
        os.path.relpath(os.path.join(d, f), base)
        for d, _, names in os.walk(base)
        for f in names
        if f.endswith(".parquet")
    )


@dataclass
class Generated:
    root: Path
    summary: SynthSummary
    tables: dict[str, pa.Table]  # relative path -> contents

    def rows(self) -> list[dict]:
        return pa.concat_tables(self.tables.values()).to_pylist()


def _is_invalid(row: dict) -> bool:
    """Tier A validation rules, restricted to what the generator produces."""
    if not row["event_id"]:
        return True
    if any((row[c] is not None and row[c] < 0) for c in ("latency_ms", "output_tokens")):
        return True
    if row["event_type"] in ("decision", "eval_result"):
        try:
            json.loads(row["payload"])
        except (TypeError, ValueError):
            return True
    return False


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Generated]:
    out = {}
    for name, config in (("a", CONFIG), ("b", CONFIG), ("clean", CLEAN)):
        root = tmp_path_factory.mktemp(name)
        summary = generate_lake(Lake(str(root)), config)
        tables = {f: pq.read_table(root / "raw_events" / f) for f in _files(root)}
        out[name] = Generated(root, summary, tables)
    return out


def test_deterministic(lakes: dict[str, Generated]) -> None:
    a, b = lakes["a"], lakes["b"]
    assert list(a.tables) == list(b.tables)
    for f, table in a.tables.items():
        assert table.equals(b.tables[f]), f
    assert a.summary == b.summary


def test_layout_and_schema(lakes: dict[str, Generated]) -> None:
    summary = lakes["a"].summary
    files = lakes["a"].tables
    assert len(files) == summary.files
    assert summary.days == ("2026-11-19", "2026-11-20")
    sessions: dict[tuple[str, str, str], list[dict]] = {}
    for f, table in files.items():
        dt, app, sid, name = f.split(os.sep)
        assert dt.startswith("dt=") and app.startswith("app_id=") and sid.startswith("session_id=")
        assert name.startswith("sample-")
        assert table.schema.equals(RAW_EVENTS), f
        rows = table.to_pylist()
        assert {r["app_id"] for r in rows} == {app.removeprefix("app_id=")}
        assert {r["session_id"] for r in rows} == {sid.removeprefix("session_id=")}
        sessions.setdefault((dt, app, sid), []).extend(rows)
    assert len(sessions) == summary.sessions
    assert sum(len(rows) for rows in sessions.values()) == summary.events
    for (dt, _, _), rows in sessions.items():
        rows.sort(key=lambda r: (r["seq"], r["ts"]))
        assert dt == f"dt={rows[0]['ts'].date().isoformat()}"
        assert rows[0]["event_type"] == "session_start"
        ts = [r["ts"] for r in rows]
        assert ts == sorted(ts), "ts must follow seq"


def test_dirt_present_only_when_asked(lakes: dict[str, Generated]) -> None:
    for name in ("a", "clean"):
        summary = lakes[name].summary
        rows = lakes[name].rows()
        invalid = [r for r in rows if _is_invalid(r)]
        ids = [r["event_id"] for r in rows if not _is_invalid(r)]
        duplicates = len(ids) - len(set(ids))
        retry_files = [f for f in lakes[name].tables if "sample-retry-" in f]
        assert len(invalid) == summary.invalid_rows
        assert duplicates == summary.duplicate_rows
        if name == "clean":
            assert invalid == [] and duplicates == 0 and retry_files == []
        else:
            assert summary.invalid_rows > 0 and summary.duplicate_rows > 0 and retry_files
            assert {"", None} & {r["event_id"] for r in invalid}
            assert any(r["latency_ms"] is not None and r["latency_ms"] < 0 for r in invalid)
    # the rates only corrupt or copy events: the clean events and sessions are the same
    assert {f for f in lakes["a"].tables if "retry" not in f} == set(lakes["clean"].tables)


def test_evals_and_decisions(lakes: dict[str, Generated]) -> None:
    rows = lakes["clean"].rows()
    evals = [r for r in rows if r["event_type"] == "eval_result"]
    assert len({json.loads(r["payload"])["benchmark"] for r in evals}) >= 2
    assert len({r["model"] for r in evals if r["model"]}) >= 2
    decisions = [json.loads(r["payload"]) for r in rows if r["event_type"] == "decision"]
    assert {d["step"] for d in decisions} == {"retrieve", "rerank", "select"}
    assert {d["outcome"] for d in decisions} == {"kept", "eliminated", "scored"}


def test_tool_calls_carry_arguments_and_some_repeat_them(lakes: dict[str, Generated]) -> None:
    """Tool calls put their arguments under `arguments` (what SPEC's arguments_hash reads), so
    the loop columns compare real arguments: a repeated tool repeats its arguments only some of
    the time, and a sample lake's loops are calls repeated exactly."""
    rows = sorted(lakes["clean"].rows(), key=lambda r: (r["session_id"], r["seq"]))
    calls = [r for r in rows if r["event_type"] == "tool_call"]
    payloads = [json.loads(r["payload"]) for r in calls]
    assert all(set(p) == {"arguments"} for p in payloads)
    by_session: dict[str, list[tuple[str, str]]] = {}
    for r, p in zip(calls, payloads, strict=True):
        call = (r["tool_name"], json.dumps(p["arguments"], sort_keys=True))
        by_session.setdefault(r["session_id"], []).append(call)
    same_tool = same_call = 0
    for seq in by_session.values():
        for before, after in itertools.pairwise(seq):
            same_tool += before[0] == after[0]
            same_call += before == after
    assert 0 < same_call < same_tool


def test_a_reader_meanwhile_sees_whole_files_only(tmp_path: Path) -> None:
    """A run listing a day as `generate` writes it read half-written files (unreadable Parquet),
    and two `generate`s at once left torn files: each file is now written whole, then renamed."""
    lake = Lake(str(tmp_path / "lake"))
    done = threading.Event()
    torn: list[str] = []
    reads = 0

    def read_what_is_there() -> None:
        nonlocal reads
        while not done.is_set():
            for path in Path(lake.root).rglob("*.parquet"):
                try:
                    pq.read_metadata(path)
                    reads += 1
                except (OSError, pa.ArrowException) as exc:  # a torn file; gone ones are fine
                    if not isinstance(exc, FileNotFoundError):
                        torn.append(f"{path}: {exc}")

    reader = threading.Thread(target=read_what_is_there)
    reader.start()
    try:
        generate_lake(lake, SynthConfig(datetime.date(2026, 11, 18), days=1, sessions_per_day=600))
    finally:
        done.set()
        reader.join()
    assert reads > 0 and not torn, torn[:3]
    assert not list(Path(lake.root).rglob("*.tmp-*"))
