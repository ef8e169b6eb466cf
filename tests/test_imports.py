"""Importing the package and loading the definitions stays light: no Ray until a run needs it."""

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_package_does_not_import_ray_or_dagster() -> None:
    loaded = _modules_after("import trajectory_assets")
    assert "ray" not in loaded
    assert "dagster" not in loaded


def test_definitions_load_without_ray() -> None:
    loaded = _modules_after("import trajectory_assets.definitions")
    assert "ray" not in loaded


def test_definitions_have_every_tier_b_asset_and_the_schedule() -> None:
    from trajectory_assets.definitions import defs
    from trajectory_assets.operators import TABLES

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {*TABLES, "raw_events", "daily_report"}
    assert defs.resolve_schedule_def("tier_b_daily_schedule").cron_schedule == "30 0 * * *"
    job = defs.resolve_job_def("tier_b_daily")
    assert job.partitions_def is not None


def test_no_module_imports_one_that_imports_it_back() -> None:
    """The layer contracts (`lint-imports`) see packages, not modules inside one: the logger's
    `api` and `session` once imported each other (one of them for type checking only)."""
    import grimp

    graph = grimp.build_graph("trajectory_assets")  # imports for type checking included
    cycles = sorted(
        f"{module} <-> {imported}"
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )
    assert cycles == []
