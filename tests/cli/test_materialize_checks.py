"""`materialize` with asset checks that fail, of the tables' own and of a team's module: what a
script hears of them (a line each, the exit status)."""

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from tests.cli.defs_sources import DUPLICATE_KEYS
from tests.cli.helpers import generate, materialize
from tests.lakes import DAY1, DAY2, write_lake


@pytest.mark.slow
def test_a_failed_check_is_named_and_the_command_fails(tmp_path: Path, home: Path) -> None:
    """The run succeeds and commits, as Dagster records it, but a script must hear of the
    check: each failed check is one line, and the exit status is 1."""
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=10)
    (tmp_path / "per_app_defs.py").write_text(DUPLICATE_KEYS)
    env = {"PYTHONPATH": str(tmp_path)}
    args = ("--defs", "per_app_defs", "--partition", DAY1)
    (tmp_path / "small_batches.yaml").write_text("batch_bytes: 1\n")
    small = ("--config", str(tmp_path / "small_batches.yaml"))
    done = materialize(lake, home, *args, "--assets", "per_app", *small, process=True, **env)
    assert done.returncode == 1
    assert "succeeded" in done.stdout  # committed and recorded
    assert f"check failed (ERROR): per_app unique_keys on {DAY1}: " in done.stderr
    assert "1 asset check(s) of ERROR severity failed" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failed_warning_check_is_listed_and_the_command_succeeds(
    tmp_path: Path, home: Path
) -> None:
    """elimination_ratio warns (WARN severity): its line is shown, the exit status stays 0."""
    choice = {"step": "rank", "item_id": "doc-1", "outcome": "eliminated", "score": 0.1}
    events = [
        {
            "event_id": "e1",
            "ts": dt.datetime.fromisoformat(f"{DAY1}T10:00:00+00:00"),
            "event_type": "session_start",
        },
        {
            "event_id": "e2",
            "ts": dt.datetime.fromisoformat(f"{DAY1}T10:00:01+00:00"),
            "event_type": "decision",
            "turn_index": 0,
            "payload": json.dumps(choice),
        },
    ]
    lake = tmp_path / "lake"
    write_lake(lake, [events])  # one step that eliminates every item it saw
    done = materialize(lake, home, "--partition", DAY1)
    assert done.returncode == 0, done.stderr
    assert (
        f"check failed (WARN): decision_steps elimination_ratio on {DAY1}: 1 of 1 session steps "
        "eliminate more than 95% of their decisions (steps: rank)"  # which, not a count alone
    ) in " ".join(done.stderr.split())


def test_a_modules_own_asset_checks_run_with_its_tables(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """`--defs` ran a module's tables without the asset checks its code location attaches to
    them, which a Dagster run of the same asset evaluates."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    own = ("--defs", "tests.cli.own_checks", "--assets", "slow_turns", "--partition", DAY1)
    done = materialize(lake, home, *own)
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "check failed (WARN): slow_turns at_most_five_slow_turns on " + DAY1 in said
    for check, takes in (
        ("paged_on_slow_turns", "the resource(s) pager"),
        ("within_a_configured_limit", "run config"),
    ):
        assert (
            f"note: check {check} takes {takes} of its code location: Dagster runs it, this "
            "command does not"
        ) in said
    assert "sessions_seen_by_the_team" not in said  # a check of a table not run
    both = materialize(lake, home, *own[:4], "--from", DAY1, "--to", DAY2, "--force")
    assert both.returncode == 0, both.stderr
    said = " ".join((both.stdout + both.stderr).split())
    # `ta.day_checks`: an outcome a day; one for the run hid the second day's pass
    assert f"check failed (WARN): slow_turns at_most_five_slow_turns on {DAY1}: 6 slow" in said
    assert f"at_most_five_slow_turns on {DAY2}" not in said
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (last,) = instance.get_run_records(limit=1)
        kind = dg.DagsterEventType.ASSET_CHECK_EVALUATION
        logged = instance.all_logs(last.dagster_run.run_id, of_type=kind)
    data = [e.dagster_event.event_specific_data for e in logged if e.dagster_event is not None]
    found = {
        (d.partition, d.passed)
        for d in data
        if isinstance(d, dg.AssetCheckEvaluation) and d.check_name == "at_most_five_slow_turns"
    }
    assert found == {(DAY1, False), (DAY2, True)}
    sessions = materialize(lake, home, *own[:2], "--assets", "sessions", *own[4:])
    assert sessions.returncode == 0, sessions.stderr
    said = sessions.stdout + sessions.stderr
    assert f"check failed (WARN): sessions sessions_seen_by_the_team on {DAY1}" in said
