"""The lake on S3 (a real S3-compatible server on loopback): raw reads, staging, commit,
versions and rollback all work, and give the tables computed on local disk."""

import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.lakes import DAY1, DAY2
from tests.servers import ACCESS_KEY, SECRET_KEY, S3Server
from trajectory_assets.defs.assets import TIER_B_ASSETS
from trajectory_assets.defs.raw import raw_events
from trajectory_assets.defs.resources import LakeResource, RayResource
from trajectory_assets.engine.job import run_operator
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.commit import rollback, versions
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS, Sessionize
from trajectory_assets.schema import TABLES

pytestmark = pytest.mark.s3


def upload(local: Path, s3: S3Server) -> Lake:
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())
    lake.fs.put(str(local / "raw_events"), lake.path("raw_events"), recursive=True)
    return lake


def test_tables_on_s3_equal_tables_on_local_disk(
    raw_lake_root: Path, tmp_path: Path, s3: S3Server
) -> None:
    local = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "local")))
    remote = upload(raw_lake_root, s3)
    for lake in (local, remote):
        for op in OPERATORS:
            run_operator(op, lake, [DAY2], InlineRuntime())
    for table in TABLES:
        for day in (DAY2,):
            expected = Catalog(local).read(table, dt=day)
            assert Catalog(remote).read(table, dt=day).equals(expected), (table, day)


def test_rerun_and_rollback_on_s3(raw_lake_root: Path, s3: S3Server) -> None:
    lake = upload(raw_lake_root, s3)
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime())
    catalog = Catalog(lake)
    first = catalog.manifest("sessions", DAY1)["version"]  # type: ignore[index]
    rows = catalog.read("sessions", dt=DAY1)
    run_operator(op, lake, [DAY1], InlineRuntime())
    second = catalog.manifest("sessions", DAY1)["version"]  # type: ignore[index]
    assert second != first
    assert catalog.read("sessions", dt=DAY1).equals(rows)
    live = [p for p in lake.fs.find(lake.path("sessions", f"dt={DAY1}")) if p.endswith(".parquet")]
    assert len(live) == len(catalog.files("sessions", dt=DAY1)), "superseded files left behind"
    assert versions(lake, "sessions", DAY1) == [first]
    assert rollback(lake, "sessions", DAY1) == first
    assert catalog.manifest("sessions", DAY1)["version"] == first  # type: ignore[index]
    assert catalog.read("sessions", dt=DAY1).equals(rows)
    assert not lake.fs.exists(lake.path("_staging", op.name, f"dt={DAY1}", "_lease.json"))


def test_dagster_materializes_into_an_s3_lake_configured_by_settings(
    raw_lake_root: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = upload(raw_lake_root, s3)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resource = LakeResource(root=f"s3://{lake.root}", s3_endpoint_url=s3.endpoint_url)
    result = dg.materialize(
        [raw_events, *TIER_B_ASSETS],
        selection=dg.AssetSelection.assets(*Sessionize.outputs),
        partition_key=DAY1,
        resources={"lake": resource, "ray": RayResource(runtime="inline")},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert Catalog(resource.lake()).manifest("sessions", DAY1)["rows"] == 120  # type: ignore[index]


@pytest.mark.ray
def test_ray_tasks_write_staging_on_s3(
    raw_lake_root: Path, s3: S3Server, ray_session: None
) -> None:
    from trajectory_assets.engine.runtimes.ray import RayRuntime

    lake = upload(raw_lake_root, s3)
    result = run_operator(Sessionize(), lake, [DAY1], RayRuntime(), batch_bytes=64 * 1024)
    assert result.days[DAY1].batches > 1
    assert Catalog(lake).read("sessions", dt=DAY1).num_rows == 120


def test_query_command_reads_an_s3_lake(raw_lake_root: Path, s3: S3Server) -> None:
    import os
    import subprocess
    import sys

    lake = upload(raw_lake_root, s3)
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRAJECTORY_ASSETS_S3_ENDPOINT_URL": s3.endpoint_url,
    }
    sql = "SELECT count(*) AS n, count(DISTINCT dt) AS days FROM sessions"
    cli = [sys.executable, "-m", "trajectory_assets.cli"]
    done = subprocess.run(
        [*cli, "query", "--lake", f"s3://{lake.root}", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "120" in done.stdout and "│" in done.stdout
