"""daily_report: rendered per day into the lake through Dagster, linked and embedded in the
materialization; the command line says where it is."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from tests.cli.helpers import new_dagster_home, on_lake
from tests.dagster_assets import assets_of, text
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog
from trajectory_assets.definitions import defs
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.lake import delta_read
from trajectory_assets.lake.fs import Lake
from trajectory_assets.report import REPORT_VERSION


def test_the_report_renders_per_day_and_the_metadata_links_and_embeds_it(
    lake: Lake, tmp_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lake": LakeResource(root=lake.uri), "compute": ComputeResource(runtime="auto")}
    alone = dg.materialize(  # before its tables: a page of an empty day would be wrong
        assets_of(defs),
        selection=dg.AssetSelection.assets("daily_report"),
        partition_key=DAY1,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    (failure,) = alone.get_step_failure_events()
    assert failure.step_failure_data.error is not None
    assert failure.step_failure_data.error.message.startswith(
        f"dagster._core.definitions.events.Failure: daily_report dt={DAY1} reads sessions, "
        f"llm_calls, tool_stats, eval_runs, model_comparisons, errors, rejected_events "
        f"dt={DAY1}, which have not been materialized; materialize sessions, llm_calls, "
        "tool_stats, eval_runs, model_comparisons, errors, rejected_events for that day first"
    )
    assert not Path(lake.root, "reports").exists()
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.all() - dg.AssetSelection.assets("raw_events"),
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": DAY1,
            "dagster/asset_partition_range_end": DAY2,
        },
    )
    assert result.success
    for day in (DAY1, DAY2):
        png = Path(lake.root, "reports", f"dt={day}", "report.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        page = Path(lake.root, "reports", f"dt={day}", "report.html").read_text()
        assert day in page and "data:image/png;base64," in page
        # what an auditor needs to read the page's numbers again once it is replaced
        drawn = json.loads(Path(lake.root, "reports", f"dt={day}", "report.json").read_text())
        versions = {t: lake_catalog(lake).snapshot(t).version for t in drawn["tables"]}
        assert drawn["tables"] == versions and set(drawn["tables"]) >= {"sessions", "llm_calls"}
        assert drawn["run_id"] == result.run_id and drawn["drawn_at"].endswith("+00:00")
    record = instance.get_latest_materialization_event(dg.AssetKey("daily_report"))
    meta = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert DAY1 in text(meta, "pages") and DAY2 in text(meta, "pages")
    assert meta["days"].value == 2
    # no one day's page, numbers or chart: they would show the last day's on every day
    assert not {"page", "chart", "sessions"} & set(meta)
    pages = {d: Path(lake.root, "reports", f"dt={d}", "report.html") for d in (DAY1, DAY2)}
    drawn = {d: p.stat().st_ino for d, p in pages.items()}  # a page drawn is a new file

    def report_of(day: str, **config: object) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets_of(defs),
            selection=dg.AssetSelection.assets("daily_report", *config and ["sessions"]),
            partition_key=day,
            resources=resources,
            instance=instance,
            run_config={"ops": {"tier_b": {"config": config}}} if config else None,
        )

    one_day = report_of(DAY1)  # its tables are as they were: the page is not drawn again
    assert pages[DAY1].stat().st_ino == drawn[DAY1]
    (event,) = one_day.get_asset_materialization_events()
    metadata = event.step_materialization_data.materialization.metadata
    chart = text(metadata, "chart")
    assert chart.startswith(f"![daily report {DAY1}](data:image/png;base64,")
    assert metadata["sessions"].value == 120  # the numbers it was drawn with
    report_of(DAY1, force=True)  # sessions written again, into new files: drawn again
    assert pages[DAY1].stat().st_ino != drawn[DAY1]
    pages[DAY1].write_text("<html>a page edited by hand</html>")
    dg.materialize(  # `materialize --force --assets daily_report`: it said "up to date"
        assets_of(defs),
        selection=dg.AssetSelection.assets("daily_report"),
        partition_key=DAY1,
        resources=resources,
        instance=instance,
        run_config={"ops": {"daily_report": {"config": {"force": True}}}},
    )
    assert "Daily report" in pages[DAY1].read_text()
    Path(lake.root, "reports", f"dt={DAY2}", "report.png").unlink()
    with pytest.MonkeyPatch.context() as patch:  # a day's files, never a whole table's dataset
        patch.setattr(delta_read, "dataset", lambda *_: pytest.fail("read every file of a table"))
        report_of(DAY2)  # a page not all there is drawn again
    assert pages[DAY2].stat().st_ino != drawn[DAY2]
    for day in (DAY1, DAY2):  # each day's own page and numbers, not the last day's
        (observed,) = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("daily_report"), asset_partitions=[day]),
            limit=1,
        ).records
        own = observed.asset_observation.metadata  # type: ignore[union-attr]
        assert text(own, "page").endswith(f"reports/dt={day}/report.html")
        assert own["page"].value == f"{lake.root}/reports/dt={day}/report.html"  # not file://
        assert text(own, "chart").startswith(f"![daily report {day}](data:image/png;base64,")
        numbers = [v.value for v in own.values() if isinstance(v.value, float)]
        assert numbers and all(len(repr(n)) < 16 for n in numbers)  # no binary noise
    sessions = instance.get_latest_materialization_event(dg.AssetKey("sessions"))
    described = sessions.asset_materialization.metadata  # type: ignore[union-attr]
    assert described["price_source"].value == "genai-prices"
    assert described["runtime"].value == "auto: inline"  # a small lake stays in-process
    assert described["lake"].value == lake.root

    home = new_dagster_home(tmp_path / "home")
    shown = on_lake("report", Path(lake.root), home, "--partition", DAY1)
    assert shown.returncode == 0, shown.stderr
    assert f"page:  {lake.root}/reports/dt={DAY1}/report.html" in shown.stdout
    assert "warning" not in shown.stderr
    record_file = Path(lake.root, "reports", f"dt={DAY1}", "report.json")
    drawn_from = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**drawn_from, "inputs": "tables since rolled back"}))
    stale = on_lake("report", Path(lake.root), home, "--partition", DAY1)  # it said nothing
    assert stale.returncode == 0 and f"page:  {lake.root}/reports/dt={DAY1}/" in stale.stdout
    assert stale.stderr.startswith(
        f"warning: the page was drawn {drawn_from['drawn_at']} from other tables than the day's"
    )
    assert f"--partition {DAY1} --assets daily_report draws it again" in stale.stderr
    redraw = on_lake("materialize", Path(lake.root), home, "--missing", "--dry-run")
    assert f"  {DAY1}: report page drawn from other tables than the day's now\n" in redraw.stdout
    record_file.write_text(json.dumps({**drawn_from, "inputs": "old", "version": 1}))
    upgraded = on_lake("materialize", Path(lake.root), home, "--missing", "--dry-run")
    now = f"now {REPORT_VERSION}"
    assert f"  {DAY1}: report page drawn by the report's version 1, {now}\n" in upgraded.stdout
    told = on_lake("report", Path(lake.root), home, "--partition", DAY1)  # not a rollback
    assert f"{drawn_from['drawn_at']} by the report's version 1, {now}: " in told.stderr
    record_file.write_text(json.dumps({"inputs": "old", "drawn_at": "then"}))  # named none
    unnamed = on_lake("materialize", Path(lake.root), home, "--missing", "--dry-run")
    assert f"the day's now, or by an earlier version of the report ({now})\n" in unnamed.stdout
    assert DAY2 not in redraw.stdout  # it said "nothing to do" while `report` warned of it
    shutil.rmtree(Path(lake.root, "reports", f"dt={DAY1}"))
    missing = on_lake("report", Path(lake.root), home, "--partition", DAY1)
    assert missing.returncode == 1 and "--assets daily_report" in missing.stderr
    no_raw = on_lake("report", Path(lake.root), home, "--partition", "2020-01-01")
    assert no_raw.returncode == 1  # not a command that would be refused
    assert "error: no report for 2020-01-01: the lake has no raw data for that day" in no_raw.stderr


def test_an_unknown_headline_number_is_null_in_the_metadata() -> None:
    """A day's cost of unpriced calls alone is unknown: left out, it read as no number at all;
    the UI shows null."""
    from trajectory_assets.defs.report import page_metadata

    shown = page_metadata("/lake/reports/dt=2026-11-20/report.html", {"cost_usd": None})
    assert shown["cost_usd"] == dg.MetadataValue.null()
