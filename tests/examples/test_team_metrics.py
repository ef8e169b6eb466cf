"""The example code location: a team's two operators, written only against the public API,
materialize through Dagster on both runtimes with identical tables, answer what they claim, and
load as a code location of their own."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

import dagster as dg
import pytest
import team_metrics.definitions as team  # installed beside the package by `make test`

from tests.dagster_assets import assets_of
from tests.lakes import DAY1, DAY2
from tests.runs import run_all
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS

CATALOG_OPS = Registry.build([*OPERATORS, *team.operators])
TABLES = ("slow_turns", "model_usage", "model_switches")


def materialize_team(
    lake: Lake, runtime: Literal["ray", "inline"], run_config: dict | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets_of(team.defs),
        selection=dg.AssetSelection.assets(*TABLES),
        resources={
            "lake": LakeResource(root=lake.uri),
            "compute": ComputeResource(runtime=runtime),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": DAY1,
            "dagster/asset_partition_range_end": DAY2,
        },
        run_config=run_config or {},
    )


@pytest.fixture()
def built(lake: Lake) -> Lake:
    run_all(lake, [DAY1, DAY2])  # the built-in tables the team's operators read
    return lake


def catalog(lake: Lake) -> Catalog:
    return Catalog(lake, CATALOG_OPS.tables)


def test_the_team_tables_answer_what_they_claim(built: Lake) -> None:
    result = materialize_team(built, "inline")
    assert result.success
    tables = catalog(built)
    turns = tables.read("turns")
    slow = [
        (r["session_id"], r["turn_index"])
        for r in turns.to_pylist()
        if (r["ttft_ms"] or 0) > 2000.0 or (r["latency_ms_total"] or 0) > 20000.0
    ]
    found = tables.read("slow_turns")
    assert 0 < found.num_rows < turns.num_rows
    assert sorted(slow) == sorted(
        zip(found["session_id"].to_pylist(), found["turn_index"].to_pylist(), strict=True)
    )
    calls = tables.read("llm_calls")
    usage = tables.read("model_usage")
    assert sum(usage["n_calls"].to_pylist()) == calls.num_rows
    switches = tables.read("model_switches")
    assert switches.num_rows == len({(r["app_id"], r["session_id"]) for r in calls.to_pylist()})
    checks = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert checks == {f"{t}:unique_keys": True for t in TABLES}


def test_the_threshold_is_run_config(built: Lake) -> None:
    strict = {"ops": {"team_metrics": {"config": {"slow_turns": {"ttft_ms": 0.0}}}}}
    assert materialize_team(built, "inline", strict).success
    turns = catalog(built).read("turns")
    with_ttft = sum(1 for v in turns["ttft_ms"].to_pylist() if v is not None and v > 0)
    assert catalog(built).read("slow_turns").num_rows >= with_ttft


@pytest.mark.ray
def test_both_runtimes_write_identical_team_tables(
    built: Lake, tmp_path: Path, ray_session: None
) -> None:
    other = Lake(str(shutil.copytree(built.root, tmp_path / "other")))
    assert materialize_team(built, "inline").success
    assert materialize_team(other, "ray").success
    for table in TABLES:
        assert catalog(other).read(table).equals(catalog(built).read(table)), table


@pytest.mark.slow
def test_the_example_loads_as_a_code_location() -> None:
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run(
        [dagster, "definitions", "validate", "-m", "team_metrics.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
