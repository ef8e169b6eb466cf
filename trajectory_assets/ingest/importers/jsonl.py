"""JSON Lines of Tier A raw events, one event object per line, validated.

Each line is an object with RAW_EVENTS column names. `ts` is ISO-8601 text (naive text is UTC)
or epoch seconds; `payload` may be a JSON object (it is serialized) or a string; `artifacts` a
list of `{kind, uri}`. `app_id` may be left out (the import's app id fills it). Unknown keys are
an error, so a misspelt column is not silently dropped.

An invalid line (not JSON, an unknown key, Tier A validation: required fields, non-negative
metrics, JSON object payloads for decision and eval_result) is `common.unimportable` with its
line number and reasons: `ingest` keeps it under `_rejected/ingest/` and imports the valid lines;
a file without a valid line fails, naming the first invalid ones. Event ids are the file's own
`event_id`s.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.ingest.common import (
    COLUMNS,
    Row,
    dumps,
    json_lines,
    read_text,
    unimportable,
    validate_row,
)
from trajectory_assets.ingest.times import parse_ts
from trajectory_assets.schema import FLOAT_METRICS, NON_NEGATIVE

FORMAT = "jsonl"
SUFFIXES = (".jsonl", ".ndjson")

_INTS = (*(c for c in NON_NEGATIVE if c not in FLOAT_METRICS), "seq", "turn_index")
_STRINGS = (
    "event_id",
    "app_id",
    "session_id",
    "event_type",
    "agent_id",
    "request_id",
    "model",
    "tool_name",
    "error_type",
    "error_code",
)


def _coerce(obj: dict[str, Any]) -> tuple[Row, list[str]]:
    problems: list[str] = []
    unknown = sorted(set(obj) - set(COLUMNS))
    if unknown:
        problems.append(f"unknown keys {unknown}")
    row: Row = dict.fromkeys(COLUMNS)
    for name in COLUMNS:
        if name in obj:
            row[name] = obj[name]
    try:
        row["ts"] = parse_ts(obj["ts"]) if obj.get("ts") not in (None, "") else None
    except (ValueError, TypeError):
        problems.append(f"ts is not a timestamp: {obj.get('ts')!r:.40}")
        row["ts"] = None
    for name in _INTS:
        value = row[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, float) and value.is_integer():
                row[name] = int(value)
            else:
                problems.append(f"{name} is not an integer")
    for name in FLOAT_METRICS:
        value = row[name]
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{name} is not a number")
            else:
                row[name] = float(value)
    for name in _STRINGS:
        value = row[name]
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} is not a string")
    if isinstance(row["payload"], dict | list):
        row["payload"] = dumps(row["payload"])
    artifacts = row["artifacts"]
    if artifacts is not None and not (
        isinstance(artifacts, list)
        and all(isinstance(a, dict) and set(a) <= {"kind", "uri"} for a in artifacts)
    ):
        problems.append("artifacts is not a list of {kind, uri}")
    return row, problems


def parse(path: str | Path) -> Iterator[Row]:
    text = read_text(path)
    for number, line in enumerate(json_lines(text), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            unimportable(f"line {number}: invalid JSON ({exc.msg})", {"line": line})
            continue
        except RecursionError:  # a hostile line would end the import with a traceback
            unimportable(f"line {number}: JSON nested too deeply", {"line": line})
            continue
        if not isinstance(obj, dict):
            unimportable(f"line {number}: not a JSON object", {"line": line})
            continue
        row, problems = _coerce(obj)
        if not problems:  # a missing app_id is filled in by the import
            problems = validate_row(row if row["app_id"] else {**row, "app_id": "-"})
        if problems:
            unimportable(f"line {number}: {'; '.join(problems)}", obj)
        else:
            yield row
