"""Shared fixtures: one local Ray for the whole session, and small generated lakes."""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

# helpers' asserts (tests/operators/builders.py, tests/runs.py, ...) show their values too
HELPERS = ("cli", "defs", "engine", "examples", "ingest", "lake", "operators", "report", "stack")
pytest.register_assert_rewrite("tests.lakes", "tests.runs", *(f"tests.{h}" for h in HELPERS))

from tests.cli.helpers import new_dagster_home  # noqa: E402
from tests.lakes import make_lake  # noqa: E402
from tests.servers import S3Server, s3_server  # noqa: E402
from trajectory_assets.lake.fs import Lake  # noqa: E402

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# A test run started in the background of a script (`.ci/run &`, no job control) ignores SIGINT,
# and every command the tests start would inherit that and ignore the Ctrl+C the tests send it.
# A handler (unlike "ignore") is reset to the default in a started program, which then takes
# Ctrl+C as a user's terminal gives it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def private_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Dagster instance folder of the test session's own for anything that reads
    DAGSTER_HOME (the `dagster` CLI, `DagsterInstance.get()`), so the tests neither need the
    developer's nor write into it. Tests of the command line pass their own per test."""
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(new_dagster_home(tmp_path_factory.mktemp("dagster_home")))
    yield
    if before is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = before


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """The one real local Ray of the test session (2 CPUs), shut down at the end."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3-compatible server on loopback for the session."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def raw_lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only generated raw lake; copy it before materializing into it."""
    root = tmp_path_factory.mktemp("raw_lake")
    make_lake(root)
    return root


@pytest.fixture()
def lake(raw_lake_root: Path, tmp_path: Path) -> Lake:
    """A private copy of the generated raw lake, for tests that write Tier B tables."""
    import shutil

    target = tmp_path / "lake"
    shutil.copytree(raw_lake_root, target)
    return Lake(str(target))


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the groups into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`: `-n 2 --dist loadgroup`) each module runs whole in one
    worker, in order (a module's tests may build on its earlier ones and share its fixtures),
    and the modules of the one local Ray and of Ray clusters (whose heads take fixed ports) all
    in one worker, one after another."""
    on_ray = {item.path for item in items if item.get_closest_marker("ray")}
    on_ray |= {item.path for item in items if item.get_closest_marker("stack")}
    for item in items:
        group = "ray" if item.path in on_ray else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
