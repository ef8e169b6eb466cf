"""A tick checks the latest days and then older ones while its budget lasts; the next ticks go
on from where it stopped, so a lake of many large days never runs a tick past Dagster's 60 s."""

import dagster as dg
import pytest

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from trajectory_assets.defs import sensors
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.defs.sensors import tick_days
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS

TABLES = ta.build_definitions(OPERATORS, name="tier_b", raw_source=True)


def test_the_latest_days_come_first_then_the_older_ones_from_where_the_last_tick_stopped() -> None:
    days = [f"2026-01-{d:02}" for d in range(1, 11)]
    recent, older, resumed = tick_days(days, None)
    assert recent == days[:2:-1] and older == ["2026-01-03", "2026-01-02", "2026-01-01"]
    assert not resumed
    assert tick_days(days, "2026-01-03")[1:] == (["2026-01-02", "2026-01-01"], True)
    assert tick_days(days, "2026-01-01")[1:] == (older, False)  # none before it: from the newest
    assert tick_days(days, "newest")[1:] == (older, False)
    assert tick_days(days[:3], None) == (days[2::-1], [], False)


def test_a_tick_out_of_time_leaves_the_older_days_to_the_next_ticks(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day of 100,000 sessions takes ~2 s to list: a tick over every day of a month of them
    ran past Dagster's 60 s, failed, and requested nothing at all."""
    monkeypatch.setattr(sensors, "RECENT_DAYS", 0)
    monkeypatch.setattr(sensors, "TICK_BUDGET_S", 0.0)  # each tick checks one older day
    sensor = TABLES.resolve_sensor_def("tier_b_daily_raw_changed")
    cursor = None
    ticks = []
    for _ in range(4):  # through Dagster's tick, which keeps the last cursor over an empty one
        context = dg.build_sensor_context(
            cursor=cursor, resources={"lake": LakeResource(root=lake.uri)}, definitions=TABLES
        )
        tick = sensor.evaluate_tick(context)
        ticks.append([r.partition_key for r in tick.run_requests or []])
        cursor = tick.cursor
    assert ticks == [[DAY2], [DAY1], [DAY2], [DAY1]]  # newest first, then round again
