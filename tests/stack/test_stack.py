"""Against the production topology on loopback (deploy/local-stack.sh): PostgreSQL storage,
an S3 lake, a Ray head and worker, the code location, dagster-webserver and dagster-daemon.

The tests act as users do: a backfill launched through the webserver's GraphQL API (what the
UI's Materialize button sends), the daily schedule ticked by the daemon, and the UI in Chromium.
"""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.runs import lake_catalog, run_all
from tests.servers import free_port
from trajectory_assets.defs.dead_runs import worker
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.fs import Lake, s3_options
from trajectory_assets.operators import TABLES

pytestmark = [pytest.mark.stack, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
DAYS = ["2026-11-10", "2026-11-11"]  # a range: the backfill is one run of both days
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.env["STACK_WEB_URL"]

    @property
    def lake(self) -> Lake:
        options = s3_options(self.env["TRAJECTORY_ASSETS_S3_ENDPOINT_URL"])
        options |= {
            "key": self.env["AWS_ACCESS_KEY_ID"],
            "secret": self.env["AWS_SECRET_ACCESS_KEY"],
        }
        return Lake(self.env["TRAJECTORY_ASSETS_LAKE"], options)

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            data: dict[str, Any] = json.load(response)
        assert "errors" not in data, data["errors"]
        return data["data"]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trajectory_assets.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=300,
        )

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        for pair in line.removeprefix("export ").split():
            key, _, value = pair.partition("=")
            env[key] = os.path.expandvars(value)  # PATH=<venv>/bin:$PATH
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack_dir = tmp_path_factory.mktemp("stack")
    ports = {
        name: str(free_port())
        for name in ("PG_PORT", "S3_PORT", "RAY_PORT", "GRPC_PORT", "WEB_PORT")
    }
    # PostgreSQL's data would outlive the stack at /tmp/trajectory-assets-pg-<port>: a later
    # test run drawing that port met the runs and schedule ticks of the earlier one, took its
    # materializations for the backfill's and the schedule's, and its schedule skipped the day
    # it had run. Its own folder, deleted by `down --purge` (outside pytest's folders, which
    # PostgreSQL's user cannot reach).
    pg_data = Path(tempfile.mkdtemp(prefix="trajectory-assets-pg-test-"))
    env = {
        **os.environ,
        **ports,
        "PG_DATA": str(pg_data),
        "STACK_DIR": str(stack_dir),
        "BIN": str(Path(sys.executable).parent),
        "TRAJECTORY_ASSETS_SCHEDULE_CRON": "* * * * *",
        "STACK_BROWSER": "1",  # Chromium for the UI test, installed by `up` when missing
    }
    script = str(ROOT / "deploy" / "local-stack.sh")
    try:
        up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        # deploy/README's `trajectory-assets ...` after `source .stack/env`, in a bare shell
        found = subprocess.run(
            ["bash", "-c", f"source {stack_dir / 'env'} && command -v trajectory-assets"],
            env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")},
            capture_output=True,
            text=True,
        )
        assert found.stdout.strip() == str(Path(sys.executable).parent / "trajectory-assets")
        stack_env = _read_env(stack_dir / "env")
        saved = {k: os.environ.get(k) for k in stack_env if k.startswith(("DAGSTER_", "AWS_"))}
        os.environ.update({k: stack_env[k] for k in saved})
        try:
            with Stack(stack_env).instance() as instance:
                earlier = instance.get_runs_count() or any(
                    _materialized_days(instance, t) for t in TABLES
                )
                assert not earlier, "the stack's instance holds earlier runs or materializations"
            yield Stack(stack_env)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        down = subprocess.run(
            [script, "down", "--purge"], env=env, capture_output=True, text=True, timeout=300
        )
        purged = not (pg_data / "PG_VERSION").exists()
        shutil.rmtree(pg_data, ignore_errors=True)  # where `up` stopped before making a database
        assert down.returncode == 0, down.stdout + down.stderr
        assert purged, down.stdout
        status = subprocess.run([script, "status"], env=env, capture_output=True, text=True)
        assert "running" not in status.stdout, status.stdout


def _materialized_days(instance: dg.DagsterInstance, table: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(table)))


@dataclass(frozen=True)
class Backfill:
    id: str
    local: Lake
    """The backfill's raw data with its tables computed here, while the daemon picked it up."""


@pytest.fixture(scope="module")
def backfill(
    stack: Stack, scheduled_day: str, tmp_path_factory: pytest.TempPathFactory
) -> Backfill:
    """Two days of raw data, and a backfill of every table over them launched through GraphQL
    (what the UI's Materialize button sends), after the schedule was switched on: the
    schedule's first tick overlaps it."""
    generated = stack.cli(
        "generate",
        "--lake",
        stack.env["TRAJECTORY_ASSETS_LAKE"],
        "--start",
        DAYS[0],
        "--days",
        str(len(DAYS)),
        "--sessions-per-day",
        "40",
    )
    assert generated.returncode == 0, generated.stderr
    launched = stack.graphql(
        """mutation($params: LaunchBackfillParams!) {
             launchPartitionBackfill(backfillParams: $params) {
               __typename ... on LaunchBackfillSuccess { backfillId }
               ... on PythonError { message } } }""",
        params={
            "partitionNames": DAYS,
            "fromFailure": False,
            "assetSelection": [{"path": [t]} for t in TABLES],
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    local = Lake(str(tmp_path_factory.mktemp("local")))
    stack.lake.fs.get(stack.lake.path("raw_events"), local.path("raw_events"), recursive=True)
    run_all(local, DAYS)
    return Backfill(str(launched["backfillId"]), local)


def _close_dialogs(page: Any) -> None:
    """Dagster's UI opens dialogs over the page when it likes (a first visit's newsletter dialog,
    late, after the page looked settled): whenever one is in the way of an action, skip it, or
    close it with Escape."""
    skip = page.get_by_role("button", name="Skip")

    def close() -> None:
        if skip.count():
            skip.first.click()
        else:
            page.keyboard.press("Escape")

    page.add_locator_handler(page.locator(".bp5-overlay-backdrop"), close)


def test_the_ui_shows_the_assets_and_the_materialized_partitions(
    stack: Stack, backfill: Backfill
) -> None:
    """First in the module: the graph and the catalog are looked at while the daemon picks up
    the backfill (it looks for new ones every 30 s), the partitions once it ran."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        _close_dialogs(page)
        page.goto(f"{stack.url}/asset-groups", wait_until="networkidle")
        # expand the group in the graph (its name is also in hidden text-measuring elements)
        page.get_by_text("tier_b", exact=True).filter(visible=True).last.dblclick()
        page.screenshot(path=str(ARTIFACTS / "asset-graph-group.png"))
        # the graph draws only the nodes in view (which ones depends on the layout): one lineage
        page.goto(f"{stack.url}/assets/turn_features?view=lineage", wait_until="networkidle")
        page.get_by_text("turns", exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

        # the graph draws only the nodes in view: the asset catalog lists every asset
        page.goto(f"{stack.url}/assets", wait_until="networkidle")
        page.get_by_text("raw_compacted", exact=True).first.wait_for(timeout=60_000)
        for table in TABLES:
            assert page.get_by_text(table, exact=True).count() > 0, table
        page.screenshot(path=str(ARTIFACTS / "asset-catalog.png"))

        # the backfill's days, once its run is done (the pages above were drawn meanwhile)
        with stack.instance() as instance:
            _wait_for(lambda: _materialized_days(instance, "sessions") >= set(DAYS), 600)
        page.goto(f"{stack.url}/assets/sessions?view=partitions", wait_until="networkidle")
        page.get_by_text("Materialized (", exact=False).first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        materialized = int(body.split("Materialized (", 1)[1].split(")", 1)[0])
        assert materialized >= len(DAYS), body[:2000]
        for day in DAYS:
            assert day in body, day
        page.screenshot(path=str(ARTIFACTS / "sessions-partitions.png"))
        browser.close()


def test_backfill_launched_through_graphql_runs_on_the_cluster(
    stack: Stack, backfill: Backfill
) -> None:
    with stack.instance() as instance:  # every table's days, before the daemon's next tick
        _wait_for(lambda: all(_materialized_days(instance, t) >= set(DAYS) for t in TABLES), 600)
        for table in TABLES:
            assert _materialized_days(instance, table) >= set(DAYS), table

    # the tables on S3 equal the tables computed locally
    for table in TABLES:
        for day in DAYS:
            remote = lake_catalog(stack.lake).read(table, dt=day)
            local = lake_catalog(backfill.local).read(table, dt=day)
            assert remote.equals(local), _story(stack, table, f"{table} dt={day}")

    # the runs are in PostgreSQL: the backfill's is a success once its last step (the daily
    # report) and its checks are done, a moment after the tables' days are recorded
    _wait_for(lambda: _successful_runs(stack) >= 1, 120)
    assert _successful_runs(stack) >= 1

    # the batches ran on the Ray worker node, not the head
    with stack.instance() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("sessions"), asset_partitions=DAYS[:1]),
            limit=1,
        ).records
        event = records[0].asset_materialization
        batch_nodes = set(event.metadata["ray_nodes"].value.split(", "))  # type: ignore[union-attr]
    nodes = _cluster_nodes(stack)
    workers = {node for node, cpus in nodes if cpus > 0}
    assert len(nodes) == 2 and len(workers) == 1
    assert batch_nodes == workers

    # the UI shows each check's status per day: every day of the backfill passed (the last
    # checks are recorded just after the last table's materialization)
    passed = {"startKey": DAYS[0], "endKey": DAYS[-1], "status": "SUCCEEDED"}
    _wait_for(lambda: all(passed in c["partitionStatuses"]["ranges"] for c in _checks(stack)), 60)
    checks = _checks(stack)
    assert {c["name"] for c in checks} >= {"unique_keys", "n_events_match_raw"}
    assert all(passed in c["partitionStatuses"]["ranges"] for c in checks), checks


RUN_LOG_LINES = ("blocked", "STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "committed", "RUN_")


def _story(stack: Stack, table: str, what: str) -> str:
    """What a failed comparison needs to be explained where only the test's output is kept (CI):
    the table's commits on S3 and the runs' own account of their steps and commits."""
    lines = [f"{what}: the commits of {table} on S3, newest first:"]
    for commit in delta_history.commits(stack.lake, table):
        meta = commit.metadata
        lines.append(
            f"  v{commit.version} {commit.timestamp:%H:%M:%S.%f} {commit.operation} "
            f"days={sorted(commit.days)} run={meta.get('run_id')} attempt={meta.get('attempt')}"
        )
    for log in sorted(Path(stack.env["DAGSTER_HOME"], "storage").glob("*/compute_logs/*.err")):
        lines.append(f"run {log.parts[-3]}:")
        for line in log.read_text(errors="replace").splitlines():
            if any(word in line for word in RUN_LOG_LINES):
                lines.append("  " + line[:220])
    return "\n".join(lines)


def _successful_runs(stack: Stack) -> int:
    import psycopg2

    with (
        psycopg2.connect(
            host="127.0.0.1",
            port=int(stack.env["DAGSTER_PG_PORT"]),
            user="postgres",
            dbname="dagster",
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
        return int(cursor.fetchone()[0])


def _checks(stack: Stack) -> list[dict[str, Any]]:
    """The checks of `sessions` with their status ranges, as the UI asks for them."""
    node = stack.graphql(
        """query { assetNodeOrError(assetKey: {path: ["sessions"]}) { ... on AssetNode {
             assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
               ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
             } } } } } } }"""
    )["assetNodeOrError"]
    return list(node["assetChecksOrError"]["checks"])


def _backfill_status(stack: Stack, backfill_id: str) -> str:
    return str(
        stack.graphql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
                 ... on PartitionBackfill { status } } }""",
            id=backfill_id,
        )["partitionBackfillOrError"]["status"]
    )


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    """Polls until the condition holds or the time is up; the assertions after it say why."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(1)


LIST_NODES = """
import json, sys, ray
ray.init(address=sys.argv[1])
print(json.dumps([[n["NodeID"], n["Resources"].get("CPU", 0)] for n in ray.nodes() if n["Alive"]]))
"""


def _cluster_nodes(stack: Stack) -> list[tuple[str, float]]:
    """The alive nodes of the stack's Ray cluster, from Ray's own state (in a process of its own:
    this one may already belong to the tests' local Ray)."""
    listed = subprocess.run(
        [sys.executable, "-c", LIST_NODES, stack.env["STACK_RAY_ADDRESS"]],
        capture_output=True,
        text=True,
        env={**os.environ, **stack.env},
        timeout=120,
        check=True,
    )
    return [(n[0], n[1]) for n in json.loads(listed.stdout.strip().splitlines()[-1])]


@pytest.fixture(scope="module")
def scheduled_day(stack: Stack) -> str:
    """Yesterday's raw data, and the daily schedule switched on as in the UI. The schedule ticks
    every minute here; switched on before the backfill is launched, its first tick overlaps it."""
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    generated = stack.cli(
        "generate",
        "--lake",
        stack.env["TRAJECTORY_ASSETS_LAKE"],
        "--start",
        yesterday,
        "--days",
        "1",
        "--sessions-per-day",
        "20",
        "--seed",
        "3",
    )
    assert generated.returncode == 0, generated.stderr
    started = stack.graphql(
        """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
             __typename ... on ScheduleStateResult { scheduleState { status } }
             ... on PythonError { message } } }""",
        s={
            "repositoryLocationName": "trajectory_assets",
            "repositoryName": "__repository__",
            "scheduleName": "tier_b_daily_schedule",
        },
    )["startSchedule"]
    assert started["__typename"] == "ScheduleStateResult", started
    return yesterday


def test_the_daemon_ticks_the_daily_schedule(stack: Stack, scheduled_day: str) -> None:
    with stack.instance() as instance:
        _wait_for(
            lambda: all(scheduled_day in _materialized_days(instance, t) for t in TABLES), 300
        )
        missing = [t for t in TABLES if scheduled_day not in _materialized_days(instance, t)]
    assert not missing, f"the schedule did not materialize {scheduled_day} of {missing}"
    state = lake_catalog(stack.lake).state("sessions", scheduled_day)
    assert state is not None and state.rows == 20, _story(stack, "sessions", scheduled_day)
    with stack.instance() as instance:  # a run the daemon launched names its process, which
        # the sensor watches: it is a multiprocessing child of the code server, and the
        # in-process executor runs its steps there
        of_day = dg.RunsFilter(tags={"dagster/partition": scheduled_day})
        (run,) = instance.get_runs(filters=of_day, limit=1)
    named = worker(run)
    assert named and named.split(":")[1] != str(os.getpid()), run.tags


def test_the_backfill_is_marked_done(stack: Stack, backfill: Backfill) -> None:
    """Last in the module: the daemon marks a backfill done on its next tick (every 30 s) after
    its runs end, by now without waiting."""
    _wait_for(lambda: _backfill_status(stack, backfill.id) != "REQUESTED", 120)
    assert _backfill_status(stack, backfill.id) == "COMPLETED_SUCCESS"
