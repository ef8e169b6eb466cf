"""Rejected input kept in the lake, and what `forget` removes of it."""

import json
from pathlib import Path

from trajectory_assets.lake import erase
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.quarantine import keep_rejected, rejected_files


def test_rejected_records_are_kept_with_the_reason_and_forget_drops_a_sessions(
    tmp_path: Path,
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    span = {"traceId": "", "attributes": {"gen_ai.conversation.id": "s-12"}}
    other = {"traceId": "", "attributes": {"gen_ai.conversation.id": "s-1"}}
    first = keep_rejected(lake, "otlp", "app", [("no trace id", span), ("no trace id", other)])
    alone = keep_rejected(lake, "otlp", "app", [("no trace id", span)])
    assert sorted(rejected_files(lake)) == sorted([first, alone])
    (line, _) = Path(first).read_text().splitlines()
    assert json.loads(line) == {
        "received_at": json.loads(line)["received_at"],
        "source": "otlp",
        "app_id": "app",
        "reason": "no trace id",
        "record": span,
    }
    request = erase.Request("app", ("s-12",))
    assert erase.leftovers(lake, Catalog(lake, {}), request) == [
        f"{path} mentions session s-12" for path in rejected_files(lake)
    ]
    assert erase.sessions_named(line, ["s-1"]) == []  # s-12 is no mention of s-1
    assert erase.drop_rejected(lake, ["s-12"]) == 2
    assert rejected_files(lake) == [first]  # the file of s-12 alone is gone
    (kept,) = Path(first).read_text().splitlines()
    assert json.loads(kept)["record"] == other
    assert erase.drop_rejected(lake, ["s-12"]) == 0
    assert erase.leftovers(lake, Catalog(lake, {}), request) == []
