"""The command line as users script it, a private DAGSTER_HOME each: by `main` in this process,
and in real subprocesses where the process is what a test looks at (its whole stderr, the
warnings it prints, Ctrl+C, a Ray of its own, operators found on PYTHONPATH).

Commands that only read a lake share one small lake, generated and materialized once through
the command line itself (inline runtime), and copied by the tests that change it.
"""

from pathlib import Path

import pytest

from tests.cli.helpers import generate, materialize, new_dagster_home
from tests.lakes import DAY1, DAY2


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return new_dagster_home(tmp_path / "dagster_home")


@pytest.fixture(scope="session")
def materialized_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of 20 sessions, every table materialized; read-only for the tests."""
    root = tmp_path_factory.mktemp("cli_lake")
    home = new_dagster_home(root / "dagster_home")
    lake = root / "lake"
    generate(lake, home, days=2, sessions_per_day=20)
    done = materialize(lake, home, "--from", DAY1, "--to", DAY2)
    assert done.returncode == 0, done.stderr[-3000:]
    return lake
