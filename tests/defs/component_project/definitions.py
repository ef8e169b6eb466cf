"""The project's code location, as `dg scaffold project` lays one out: everything the defs
folder's defs.yaml files declare (`dagster definitions validate -m
tests.defs.component_project.definitions`, or `dg check defs` in this folder)."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
