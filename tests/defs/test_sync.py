"""Bringing an instance up to date with the lake: a day is recorded again when its last record is
older than its table's change, or of another lake, judged from each day's last record alone."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_operator
from trajectory_assets.defs.raw import DATA_VERSION_TAG
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
        for version in ("an old one", "another"):  # the raw day's last observation is stale
            observed = dg.AssetObservation(
                "raw_events", partition=DAY1, tags={DATA_VERSION_TAG: version}
            )
            instance.report_runless_asset_event(observed)
        fetched: list[dg.EventLogRecord] = []
        for method in ("fetch_materializations", "fetch_observations"):
            real = getattr(instance, method)

            def counted(*args: object, _real: Any = real, **kwargs: object) -> object:
                found = _real(*args, **kwargs)
                wanted = (dg.AssetKey("sessions"), dg.AssetKey("raw_events"))
                fetched.extend(r for r in found.records if r.asset_key in wanted)
                return found

            monkeypatch.setattr(instance, method, counted)
        report = sync(instance, lake, registry, partitions)
        assert (report.recorded["sessions"], report.current["sessions"]) == (1, 1)  # DAY2's
        assert report.raw_days == 1  # DAY1's observation, recorded again
        assert len(fetched) == 4  # a record a day of each
        fetched.clear()
        report = sync(instance, lake, registry, partitions)
        assert (report.recorded["sessions"], report.current["sessions"], report.raw_days) == (
            0,
            2,
            0,
        )
        assert len(fetched) == 4
