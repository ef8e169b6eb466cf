"""`make test`'s workers (pytest-xdist, `--dist loadgroup`): each test module whole in one
worker, every module of the one local Ray and of the Ray clusters in the same one.

Nothing fails when the grouping is lost: tests are spread one by one, a module's fixtures are
set up in both workers, and two stacks install their packages at once (apt's lock refused the
second). pytest 9.2 lost it silently (pytest-xdist#1386), so it is checked here, on tests of
its own, with the suite's own grouping hook.
"""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODULES = {
    "test_alone.py": "",
    "test_other.py": "",
    "test_local_ray.py": "pytestmark = pytest.mark.ray\n",
    "test_cluster.py": "pytestmark = pytest.mark.stack\n",
}


def test_modules_run_whole_and_ray_modules_together(tmp_path: Path) -> None:
    for name, mark in MODULES.items():
        tests = "".join(f"def test_{i}() -> None:\n    pass\n\n\n" for i in range(6))
        (tmp_path / name).write_text(f"import pytest\n\n{mark}\n\n{tests}")
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    ray\n    stack\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED (\S+)::test_\d+@(\S+)", done.stdout)
    assert len(ran) == 6 * len(MODULES), done.stdout  # every test, its group in its id
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, module, group in ran:
        workers[module].add(worker)
        assert group == ("ray" if MODULES[module] else module), (module, group)
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
    assert workers["test_local_ray.py"] == workers["test_cluster.py"]
