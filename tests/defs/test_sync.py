"""Bringing an instance up to date with the lake: a day is recorded again when its last record is
older than its table's change, or of another lake, judged from each day's last record alone."""

from pathlib import Path

import dagster as dg
import pytest

from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_operator
from trajectory_assets.defs.sync import record_day, sync
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize


def test_sync_judges_each_day_by_its_last_record_alone(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a year, a table's every record (a run a day, the checks' reruns, forgets) was read at
    each sync, and a forget's sync read them for each of its tables: seconds each."""
    run_operator(Sessionize(), lake, [DAY1, DAY2], InlineRuntime())
    registry = Registry.build([Sessionize()])
    partitions = dg.DailyPartitionsDefinition(start_date=DAY1)
    with dg.instance_for_test() as instance:
        assert sync(instance, lake, registry, partitions).recorded["sessions"] == 2
        snapshot = lake_catalog(lake).snapshot("sessions")
        for _ in range(4):
            record_day(instance, lake, snapshot, DAY1, "a test")
        record_day(instance, Lake(str(tmp_path / "elsewhere")), snapshot, DAY2, "a test")
        fetched: list[dg.EventLogRecord] = []
        real = instance.fetch_materializations

        def counted(*args: object, **kwargs: object) -> dg.EventRecordsResult:
            found = real(*args, **kwargs)  # type: ignore[arg-type]
            fetched.extend(r for r in found.records if r.asset_key == dg.AssetKey("sessions"))
            return found

        monkeypatch.setattr(instance, "fetch_materializations", counted)
        report = sync(instance, lake, registry, partitions)
        assert (report.recorded["sessions"], report.current["sessions"]) == (1, 1)  # DAY2's
        assert len(fetched) == 2  # a record a day
        fetched.clear()
        report = sync(instance, lake, registry, partitions)
        assert (report.recorded["sessions"], report.current["sessions"]) == (0, 2)
        assert len(fetched) == 2
