"""The notebook API: reads that open only the files of the days and apps asked for, `apply`
that computes without writing, `write` that commits as a Dagster run does."""

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_all, run_operator
from trajectory_assets.errors import LostDataFileError, NoSuchVersionError, NotMaterializedError
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import DecisionSteps, Sessionize, ToolStats

PER_APP = ta.TableSpec(
    "sessions_per_app",
    pa.schema(
        [
            ta.column("dt", pa.string(), "The day."),
            ta.column("app_id", pa.string(), "The app."),
            ta.column("n_sessions", pa.int64(), "Its sessions of the day."),
        ]
    ),
    partition_by=(),
    keys=("app_id",),
)


class SessionsPerApp(ta.Operator):
    """A notebook user's own table: not in the context's catalog until written."""

    name, version = "sessions_per_app", "1"
    inputs = ("sessions",)
    outputs = (PER_APP,)
    scale = 1

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        query = (
            f"SELECT dt, app_id, count(*) * {self.scale} AS n_sessions FROM sessions GROUP BY ALL"
        )
        return batch.duckdb().sql(query).arrow()  # a RecordBatchReader, read whole


class EditedSessionsPerApp(SessionsPerApp):
    """The same operator after its cell was edited, its name and version left as they were."""

    scale = 10


@pytest.fixture()
def built(lake: Lake) -> Lake:
    run_all(lake, [DAY1, DAY2], operators=[Sessionize()])
    return lake


def test_read_opens_only_the_files_of_the_days_and_apps_asked_for(built: Lake) -> None:
    ctx = ta.connect(built.root, runtime="inline")
    whole = lake_catalog(built).read("sessions", dt=DAY1)
    for day2_file in Path(built.root, "sessions", f"dt={DAY2}").rglob("*.parquet"):
        day2_file.unlink()  # a read of DAY1 that opened a DAY2 file would now fail
    assert ctx.read("sessions", dt=DAY1).equals(whole)
    with pytest.raises(LostDataFileError, match=f"sessions dt={DAY2}: "):
        ctx.read("sessions")  # ... as a read of everything does
    app = "support-bot"
    one_app = ctx.read(
        "sessions", dt=DAY1, app_id=app, columns=["app_id", "session_id", "cost_usd"]
    )
    assert set(one_app["app_id"].to_pylist()) == {app}
    assert one_app.num_rows == sum(1 for a in whole["app_id"].to_pylist() if a == app)
    assert one_app.column_names == ["app_id", "session_id", "cost_usd"]
    frame = ctx.read_polars("turns", dt_from=DAY1, dt_to=DAY1)
    assert frame.height == lake_catalog(built).read("turns", dt=DAY1).num_rows


def test_raw_events_and_versions_read_as_they_are(built: Lake) -> None:
    """raw_events reads the raw files (it is no Delta table to come back empty); a version or
    time the log does not hold is an error naming the versions kept."""
    ctx = ta.connect(built.root, runtime="inline")
    raw = ctx.read("raw_events", dt=DAY1)
    files = sorted(Path(built.root, "raw_events", f"dt={DAY1}").rglob("*.parquet"))
    assert raw.num_rows == sum(pq.read_metadata(f).num_rows for f in files) > 0
    assert set(raw["dt"].to_pylist()) == {DAY1}
    assert ctx.read("raw_events", dt=DAY1, app_id="support-bot", columns=["app_id"]).num_rows < (
        raw.num_rows
    )
    with pytest.raises(
        ValueError, match="raw_events is append-only Parquet, not Delta: it has no versions"
    ):
        ctx.read("raw_events", version=0)
    with pytest.raises(NoSuchVersionError, match="sessions has no version 99: the versions kept"):
        ctx.read("sessions", version=99)
    with pytest.raises(NoSuchVersionError, match="sessions did not exist yet at 2020-01-01"):
        ctx.read("sessions", as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    now = dt.datetime.now(dt.UTC)
    assert ctx.read("sessions", as_of=now).equals(ctx.read("sessions"))
    # ISO text, as the command line's --as-of takes it, UTC when it names no zone
    naive_text = now.replace(tzinfo=None).isoformat()
    assert ctx.read("sessions", as_of=naive_text).equals(ctx.read("sessions"))
    with pytest.raises(NoSuchVersionError, match="sessions did not exist yet at 2020-01-01"):
        ctx.read("sessions", as_of="2020-01-01T00:00:00+00:00")
    with pytest.raises(FileNotFoundError, match=f"no lake at {built.root}-typo"):
        ta.connect(f"{built.root}-typo")
    with pytest.raises(ValueError, match="dt='bogus' is not a day"):  # not 0 rows, as if empty
        ctx.read("sessions", dt="bogus")
    with pytest.raises(ValueError, match="dt_from='2026-13-01' is not a day"):
        ctx.read("sessions", dt_from="2026-13-01")
    with pytest.raises(ValueError, match="dt_to='20261118' is not a day"):
        ctx.read("raw_events", dt_to="20261118")
    mistakes = {  # each raises, where it read 0 rows, a raw library error, or one column per letter
        "give dt= for one day, or dt_from=/dt_to= for a range": {"dt": DAY1, "dt_from": DAY1},
        f"dt_to='{DAY1}' is before dt_from='{DAY2}'": {"dt_from": DAY2, "dt_to": DAY1},
        "sessions has no column 'cost' (did you mean 'cost_usd'?); its columns: dt,": {
            "columns": ["session_id", "cost"]
        },
        "columns=[] names no column": {"columns": []},
        "columns names 'session_id' more than once": {"columns": ["session_id", "session_id"]},
        "app_id=[] names no app; leave app_id out": {"app_id": []},
        "as_of=2026-11-18T12:00:00 has no time zone": {"as_of": dt.datetime(2026, 11, 18, 12)},
        "is not a day": {"dt": dt.datetime(2026, 11, 18, 12)},  # a moment, not a day
        "as_of='yesterday' is not an ISO 8601 time": {"as_of": "yesterday"},
    }
    for message, options in mistakes.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            ctx.read("sessions", **options)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("not one string: columns=['session_id']")):
        ctx.read("sessions", columns="session_id")
    with pytest.raises(ValueError, match="raw_events has no column 'cost'"):
        ctx.read("raw_events", columns=["cost"])
    day = dt.date.fromisoformat(DAY1)
    assert ctx.read("sessions", dt=day).equals(ctx.read("sessions", dt=DAY1))
    apps = sorted(set(ctx.read("sessions", columns=["app_id"])["app_id"].to_pylist()))
    assert len(apps) > 1
    for table in ("sessions", "raw_events"):
        both = ctx.read(table, app_id=apps[:2], columns=["app_id"])["app_id"].to_pylist()
        alone = [ctx.read(table, app_id=a, columns=["app_id"]).num_rows for a in apps[:2]]
        assert sorted(set(both)) == apps[:2] and len(both) == sum(alone), table


def test_a_vacuumed_version_is_said_to_be_vacuumed(built: Lake) -> None:
    """Its message told to compute a day of the current version again, which was intact."""
    run_operator(Sessionize(), built, [DAY1], force=True)
    version = lake_catalog(built).snapshot("sessions").version - 1
    delta_history.vacuum(built, "sessions", retention_hours=0)
    ctx = ta.connect(built.root, runtime="inline")
    with pytest.raises(LostDataFileError) as lost:
        ctx.read("sessions", version=version)
    assert str(lost.value).startswith(f"sessions as of version {version} cannot be read: its file")
    assert "was vacuumed" in str(lost.value) and "--force" not in str(lost.value)
    assert ctx.read("sessions", dt=DAY1).num_rows > 0


def test_apply_computes_without_writing_and_write_commits_the_same(
    built: Lake, tmp_path: Path
) -> None:
    ctx = ta.connect(built.root, runtime="inline")
    seen = ctx.apply(ToolStats(), [DAY1, DAY2])
    assert not Path(built.root, "tool_stats").exists()
    assert seen["tool_stats"].num_rows > 0
    result = ctx.write(ToolStats(), [DAY1, DAY2])
    assert result.operators["tool_stats"].rows("tool_stats") == seen["tool_stats"].num_rows
    committed = ctx.read("tool_stats")
    assert committed.equals(
        seen["tool_stats"].sort_by([(k, "ascending") for k in ("dt", "app_id", "tool_name")])
    )
    raw_based = ctx.apply(DecisionSteps(), [DAY1])["decision_steps"]
    assert isinstance(raw_based, pa.Table) and not Path(built.root, "decision_steps").exists()


@pytest.mark.ray
def test_read_ray_gives_the_same_rows(built: Lake, ray_session: None) -> None:
    ctx = ta.connect(built.root, runtime="ray")
    rows = ctx.read_ray("sessions", dt=DAY1, app_id="code-agent").to_arrow_refs()
    import ray

    table = pa.concat_tables(ray.get(rows)).sort_by([("session_id", "ascending")])
    expected = ctx.read("sessions", dt=DAY1, app_id="code-agent")
    assert table.select(expected.column_names).cast(expected.schema).equals(expected)
    raw = ctx.read_ray("raw_events", dt=DAY1, app_id="code-agent", columns=["event_id"])
    assert raw.count() == ctx.read("raw_events", dt=DAY1, app_id="code-agent").num_rows > 0
    none = ctx.read_ray("sessions", dt=DAY1, app_id="no-such-app", columns=["session_id", "dt"])
    assert none.count() == 0 and none.schema().names == ["session_id", "dt"]  # as `read` gives


def test_write_then_read_an_own_table_with_days_as_a_user_gives_them(
    built: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table written from the notebook reads back through the same context; one day alone,
    `date`s and a `Path` work as in `read`; an edited operator is rewritten with `force`."""
    monkeypatch.setenv("HOME", str(Path(built.root).parent))
    ctx = ta.connect(Path("~") / Path(built.root).name, runtime="inline")
    day1 = dt.date.fromisoformat(DAY1)
    assert ctx.apply(SessionsPerApp(), day1)["sessions_per_app"].equals(
        ctx.apply(SessionsPerApp(), [DAY1])["sessions_per_app"]
    )
    ctx.write(SessionsPerApp(), [day1, DAY2])
    # the context still knows every operator by name (a write left it only the written one)
    assert ctx.registry.operator("eval_runs").name == "eval_runs"
    assert ctx.registry.operator("sessions_per_app").name == "sessions_per_app"
    assert {"sessions", "eval_runs", "sessions_per_app"} <= set(ctx.tables())
    counts = ctx.read("sessions_per_app", dt=DAY1)
    expected = ctx.read("sessions", dt=DAY1).group_by("app_id").aggregate([("app_id", "count")])
    assert dict(
        zip(counts["app_id"].to_pylist(), counts["n_sessions"].to_pylist(), strict=True)
    ) == (
        dict(zip(expected["app_id"].to_pylist(), expected["app_id_count"].to_pylist(), strict=True))
    )
    again = ctx.write(EditedSessionsPerApp(), DAY1).operators["sessions_per_app"]
    assert again.days[DAY1].tables["sessions_per_app"].version is None  # same name and version
    assert ctx.read("sessions_per_app", dt=DAY1).equals(counts)
    ctx.write(EditedSessionsPerApp(), DAY1, force=True)
    tenfold = ctx.read("sessions_per_app", dt=DAY1)["n_sessions"].to_pylist()
    assert tenfold == [10 * n for n in counts["n_sessions"].to_pylist()]

    mistakes = {
        "days='2026/11/18' is not a day (YYYY-MM-DD)": ["2026/11/18"],
        "is not a day": [dt.datetime(2026, 11, 18, 12)],
    }
    for message, days in mistakes.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            ctx.apply(SessionsPerApp(), days)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("SessionsPerApp is not an operator instance")):
        ctx.apply(SessionsPerApp, DAY1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("'tool_stats' is not an operator: pass an")):
        ctx.write("tool_stats", DAY1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("runtime='rey': choose one of auto, ray")):
        ta.connect(built.root, runtime="rey")  # type: ignore[arg-type]
    unloaded = f"sessions_per_app is a table of {built.display()} that no loaded operator writes"
    with pytest.raises(KeyError, match=re.escape(unloaded)):  # its module not named
        ta.connect(built.root, runtime="inline").read("sessions_per_app", dt=DAY1)
    with pytest.raises(ValueError) as misspelt:  # as other refused reads; shown unquoted
        ta.connect(built.root, runtime="inline").read("sesions")
    assert str(misspelt.value).startswith("unknown table 'sesions'; the catalog has: ")
    one = ta.connect(built.root, runtime="inline", defs="team_metrics.definitions")
    assert "slow_turns" in one.tables()  # one module as a string, not one per letter


def test_reads_of_what_was_never_materialized_say_so(built: Lake) -> None:
    """0 rows would read as days without events: a day never materialized is an error, and a
    range that leaves out days of raw data warns of them."""
    run_all(built, [DAY1], operators=[ToolStats()])
    ctx = ta.connect(built.root, runtime="inline")
    with pytest.raises(NotMaterializedError, match="decision_steps has not been materialized yet"):
        ctx.read("decision_steps")
    with pytest.raises(
        NotMaterializedError,
        match=re.escape(f"cannot read tool_stats dt={DAY2}, which has not been materialized; "),
    ):
        ctx.read("tool_stats", dt=DAY2)
    with pytest.raises(NotMaterializedError, match="no raw data for 2030-01-01 to compute it"):
        ctx.read("sessions", dt="2030-01-01")
    with pytest.warns(UserWarning, match=f"tool_stats has not been materialized for {DAY2} of"):
        assert ctx.read("tool_stats", dt_from=DAY1, dt_to=DAY2).equals(
            ctx.read("tool_stats", dt=DAY1)
        )
    assert ctx.read("tool_stats", version=0).num_rows == 0  # a version is read as it was


def test_the_packages_docstring_example_runs_as_written(built: Lake) -> None:
    """help(trajectory_assets) once showed an operator that every definitions load refused: its
    example is run as written."""
    import dagster as dg

    text = ta.__doc__ or ""
    block = text[text.index("    import pyarrow") : text.index("Importing the package")]
    code = "\n".join(line[4:] for line in block.splitlines())
    assert 'ta.connect("demo/lake")' in code
    scope: dict = {}
    exec(code.replace('"demo/lake"', repr(built.root)), scope)  # the doc's own code
    assert dg.AssetKey("slow_turns") in scope["defs"].resolve_asset_graph().get_all_asset_keys()
    slow = scope["ctx"].apply(scope["SlowTurns"](), [DAY1])["slow_turns"]
    turns = scope["ctx"].read("turns", dt=DAY1).to_pylist()
    assert slow.num_rows == sum(1 for t in turns if (t["latency_ms_total"] or 0) > 10000) > 0


def test_a_module_of_the_lakes_config_not_installed_here_leaves_the_other_tables_readable(
    built: Lake,
) -> None:
    """Another team's module in the lake's config stopped every read of a consumer without it,
    built-in tables included; a module of one's own that fails stays an error."""
    (Path(built.root) / "trajectory_assets.json").write_text(
        '{"start_date": "2025-01-01", "defs": ["platform_team.tables"], '
        '"params": {"platform_rollup": {"days": 3}}}'
    )
    with pytest.warns(UserWarning, match=r"not installed here: platform_team\.tables; their"):
        ctx = ta.connect(built.root, runtime="inline")
    assert ctx.read("sessions", dt=DAY1).num_rows > 0
    with pytest.raises(ta.DefinitionError, match="cannot import the definitions module"):
        ta.connect(built.root, runtime="inline", defs="platform_team.tables")


def test_an_installed_module_reading_an_uninstalled_ones_table_is_left_out_too(
    built: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "team_b_reader.py").write_text(
        "import pyarrow as pa\nimport trajectory_assets as ta\n\n"
        "class Derived(ta.Operator):\n"
        "    name, version, inputs = 'b_derived', '1', ('a_table',)\n"
        "    outputs = (ta.TableSpec('b_derived', pa.schema([ta.column('dt', pa.string(), 'd'),"
        " ta.column('app_id', pa.string(), 'a')]), partition_by=('app_id',),"
        " keys=('app_id',), description='b'),)\n\n"
        "operators = [Derived()]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (Path(built.root) / "trajectory_assets.json").write_text(
        '{"start_date": "2025-01-01", "defs": ["platform_team.tables", "team_b_reader"]}'
    )
    with pytest.warns(UserWarning, match=r"platform_team\.tables, team_b_reader; their"):
        ctx = ta.connect(built.root, runtime="inline")
    assert ctx.read("sessions", dt=DAY1).num_rows > 0
