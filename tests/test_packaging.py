"""What an install from the package (not this checkout) needs: its dependencies and files."""

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _closure(name: str) -> set[str]:
    """Every distribution a plain `pip install NAME` brings, extras left out."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist = todo.pop().lower().replace("_", "-")
        if dist in seen:
            continue
        seen.add(dist)
        for line in metadata.requires(dist) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_a_plain_install_brings_what_rays_dashboard_agent_imports() -> None:
    """Without opentelemetry-api, `from opentelemetry import metrics` fails in the agent with an
    ImportError Ray does not expect, and no Ray runtime starts (the dev extra hid it)."""
    assert "opentelemetry-api" in _closure("trajectory-assets")


def test_the_package_ships_its_type_marker_and_instance_settings() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]
    for package, names in shipped.items():
        folder = ROOT.joinpath(*package.split("."))
        assert all((folder / n).is_file() for n in names), (package, names)
    assert "py.typed" in shipped["trajectory_assets"]
