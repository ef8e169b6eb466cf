"""The rejected-rows checks: a day's share (an error) and each app's (a warning)."""

import datetime as dt
from pathlib import Path

import dagster as dg

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1, write_session_file
from tests.runs import lake_catalog
from trajectory_assets.definitions import defs
from trajectory_assets.lake.fs import Lake

SELECTION = dg.AssetSelection.assets("sessions")  # sessionize: rejected_events with it


def _checks(lake: Lake, limit: float = 0.05) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        assets_of(defs),
        selection=SELECTION,
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"tier_b": {"config": {"max_rejected_share": limit}}}},
    )
    assert result.success
    return {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("rejected_events")
    }


def _add_app(lake: Lake, app: str, valid: int, rejected: int, copies: int = 1) -> None:
    """A session of `app` on DAY1: `valid` events and `rejected` ones (a negative token count),
    each written in `copies` files (a producer delivering at least once)."""
    start = dt.datetime.fromisoformat(f"{DAY1}T12:00:00+00:00")
    events = [
        {"event_id": f"{app}-{i}", "ts": start + dt.timedelta(seconds=i)} for i in range(valid)
    ] + [
        {
            "event_id": f"{app}-bad-{i}",
            "ts": start + dt.timedelta(seconds=valid + i),
            "event_type": "llm_call",
            "input_tokens": -1,
        }
        for i in range(rejected)
    ]
    for copy in range(copies):
        name = f"part-{copy}.parquet"
        write_session_file(Path(lake.root), DAY1, f"{app}-s1", events, name=name, app=app)


def test_a_small_app_mostly_rejected_warns_though_the_days_share_is_low(lake: Lake) -> None:
    _add_app(lake, "tiny", valid=3, rejected=2)
    checks = _checks(lake)
    day = checks["rejected_share"]
    assert day.passed, day.metadata  # the other apps' rows keep the day's share under 5%
    by_app = checks["rejected_share_by_app"]
    assert not by_app.passed and by_app.severity == dg.AssetCheckSeverity.WARN
    detail = str(by_app.metadata["detail"].value)
    assert detail.startswith("1 of ") and "tiny (2 of 5, 40.00%, at least 11.76%)" in detail, detail
    # the generated apps' own rejected rows are each a small share of their events
    rows = lake_catalog(lake).read("rejected_events", dt=DAY1)["app_id"].to_pylist()
    assert {"tiny"} < set(rows)


def test_each_app_under_the_limit_passes_and_the_worst_are_named_first(lake: Lake) -> None:
    assert _checks(lake)["rejected_share_by_app"].passed
    for app, valid, rejected in (("few", 8, 2), ("half", 2, 2), ("most", 1, 3)):
        _add_app(lake, app, valid, rejected)
    detail = str(_checks(lake)["rejected_share_by_app"].metadata["detail"].value)
    named = "most (3 of 4, 75.00%, at least 30.06%), half (2 of 4, 50.00%, at least 15.00%), "
    assert named + "few (2 of 10, 20.00%, at least 5.67%)" in detail, detail


def test_copies_of_a_rejected_event_count_once_as_those_of_a_valid_one_do(lake: Lake) -> None:
    """2 broken events of 22, each delivered three times: 2 of 22, not 6 of 26 (at least 11%)."""
    _add_app(lake, "thrice", valid=20, rejected=2, copies=3)
    checks = _checks(lake)
    assert checks["rejected_share_by_app"].passed, checks["rejected_share_by_app"].metadata
    _add_app(lake, "broken", valid=4, rejected=3, copies=3)
    detail = str(_checks(lake)["rejected_share_by_app"].metadata["detail"].value)
    assert "broken (3 of 7, 42.86%, at least" in detail and "thrice" not in detail, detail


def test_one_bad_event_of_a_small_app_is_chance_and_a_large_app_warns_at_the_limit(
    lake: Lake,
) -> None:
    _add_app(lake, "small", valid=10, rejected=1)  # 1 of 11: 9%, but at least 1.6%
    assert _checks(lake)["rejected_share_by_app"].passed
    _add_app(lake, "large", valid=1_900, rejected=120)  # 5.94%, at least 4.99%: not yet
    assert _checks(lake)["rejected_share_by_app"].passed
    _add_app(lake, "larger", valid=1_900, rejected=130)  # 6.40%, at least 5.42%
    detail = str(_checks(lake)["rejected_share_by_app"].metadata["detail"].value)
    assert detail.startswith("1 of ") and "larger (130 of 2030" in detail, detail
