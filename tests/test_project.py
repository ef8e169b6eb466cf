"""A project: modules of a team's own operators, found by name, as the command line and the
notebook API load them (their tables' asset names, one module reading another's tables)."""

from pathlib import Path

import dagster as dg
import pytest

import trajectory_assets as ta
from tests.dagster_assets import inline_resources
from tests.lakes import DAY1
from tests.runs import run_all
from trajectory_assets.errors import DefinitionError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.config import LakeConfig, write_config
from trajectory_assets.lake.fs import Lake
from trajectory_assets.project import load

APPS = '''
import pyarrow as pa
import trajectory_assets as ta


class Apps(ta.Operator):
    """One row per app of the day, from the built-in sessions."""

    name, version, inputs = "apps", "1", ("sessions",)
    outputs = (
        ta.TableSpec(
            "apps",
            pa.schema([ta.column("dt", pa.string(), ""), ta.column("app_id", pa.string(), "")]),
            partition_by=(),
            keys=("app_id",),
            description="One row per app.",
        ),
    )

    def transform(self, ctx, batch):
        return batch.sql("SELECT DISTINCT dt, app_id FROM sessions")


operators = [Apps()]
'''

APP_COUNT = '''
import pyarrow as pa
import trajectory_assets as ta


class AppCount(ta.Operator):
    """A table of a table of another module: each app's name, counted in characters."""

    name, version, inputs = "app_count", "1", ("apps",)
    outputs = (
        ta.TableSpec(
            "app_count",
            pa.schema(
                [
                    ta.column("dt", pa.string(), ""),
                    ta.column("app_id", pa.string(), ""),
                    ta.column("n_chars", pa.int64(), ""),
                ]
            ),
            partition_by=(),
            keys=("app_id",),
            description="One row per app.",
        ),
    )

    def transform(self, ctx, batch):
        return batch.sql("SELECT dt, app_id, length(app_id) AS n_chars FROM apps")


operators = [AppCount()]
'''


LOCATION = """
defs = ta.build_definitions(operators, upstream=ta.BUILTIN_OPERATORS, name="apps_location")
"""


@pytest.fixture()
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`team.apps` and `team.twin` (each with a code location of its own, both named
    `apps_location`), `team.app_count` (none) and `solo`, importable."""
    package = tmp_path / "mods" / "team"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "apps.py").write_text(APPS + LOCATION)
    (package / "twin.py").write_text(APPS.replace('"apps"', '"twin"') + LOCATION)
    (package / "app_count.py").write_text(APP_COUNT)
    (tmp_path / "mods" / "solo.py").write_text(APPS.replace('"apps"', '"solo"'))
    (package / "both.py").write_text(  # lists the operators it imports as its own
        "from team.apps import operators as theirs\n"
        + APP_COUNT.replace("operators = [AppCount()]", "operators = [*theirs, AppCount()]")
    )
    (package / "builtin.py").write_text(
        APP_COUNT.replace(
            "operators = [AppCount()]", "operators = [AppCount(), Sessionize()]"
        ).replace(
            "import trajectory_assets as ta",
            "import trajectory_assets as ta\nfrom trajectory_assets.operators import Sessionize",
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    monkeypatch.delenv("TRAJECTORY_ASSETS_DEFS", raising=False)
    return tmp_path / "mods"


def test_a_modules_tables_are_named_as_its_own_code_location_names_them(modules: Path) -> None:
    project = load(["team.apps", "team.app_count"])
    assert [(m.name, m.node) for m in project.modules] == [
        ("team.apps", "apps_location"),  # what the UI's launchpad config calls it
        ("team.app_count", "team_app_count"),  # no location of its own: its dotted name
    ]


def test_two_modules_of_one_name_are_a_definition_error(modules: Path) -> None:
    with pytest.raises(DefinitionError, match="give each module's build_definitions a name"):
        load(["team.apps", "team.twin"])


def test_an_operator_listed_by_two_modules_is_named_once_with_the_fix(modules: Path) -> None:
    """It was a "same name: give it a name of its own" error per operator: not the fix."""
    with pytest.raises(DefinitionError) as listed:
        load(["team.apps", "team.both"])
    assert str(listed.value) == (
        "module 'team.both' lists operator 'apps' (Apps), as module 'team.apps' does: list "
        "each operator in one module's `operators` (a module reads the tables of the others, "
        "and the built-in ones, without listing them)"
    )
    with pytest.raises(DefinitionError, match=r"'sessionize' \(Sessionize\), as the built-in"):
        load(["team.builtin"])
    assert "apps" in load(["team.both"]).registry.tables  # alone, its list is its own


def test_a_module_reads_the_tables_of_another(modules: Path, lake: Lake) -> None:
    run_all(lake, [DAY1])  # the built-in sessions
    project = load(["team.app_count", "team.apps"])  # the reader first: order does not matter
    resources = inline_resources(lake)
    assets = project.assets(resources)
    result = dg.materialize(
        [a for a in assets if isinstance(a, dg.AssetsDefinition) and a.is_executable],
        selection=dg.AssetSelection.assets("apps", "app_count"),
        partition_key=DAY1,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    counted = Catalog(lake, project.registry.tables).read("app_count").to_pylist()
    apps = {"code-agent", "research-agent", "support-bot"}
    assert sorted(counted, key=str) == sorted(
        ({"dt": DAY1, "app_id": a, "n_chars": len(a)} for a in apps), key=str
    )


def test_connect_loads_the_modules_the_lake_names(modules: Path, lake: Lake) -> None:
    assert "solo" not in ta.connect(lake.root, runtime="inline").registry.tables
    write_config(lake, LakeConfig(defs=("solo",)))
    assert "solo" in ta.connect(lake.root, runtime="inline").registry.tables
