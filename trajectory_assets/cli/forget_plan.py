"""What a `forget` deletes, found before anything is: the sessions of its request, their raw
files and days, the later days whose rolling windows read theirs, and what would stop it
midway (a link out of the lake, key folders the rebuild refuses, a table no loaded operator
writes), refused first."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trajectory_assets.cli.common import CliError, say
from trajectory_assets.lake.bad_file_rules import OnBadFile

if TYPE_CHECKING:
    from trajectory_assets.engine.registry import Registry
    from trajectory_assets.engine.windows import Pooling
    from trajectory_assets.lake import erase
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.lake.raw import RawFile


class NothingToForget(CliError):
    """No raw file or table holds the sessions."""


@dataclass
class Plan:
    """What a forget deletes: the sessions, their raw files and the days their rows are on."""

    files: "list[RawFile]"
    forgotten: set[str]
    misfiled: list[str]
    by_id: "erase.Request"
    days: list[str]
    resumed: "tuple[str, erase.Record] | None"
    what: str
    pooling: "Pooling"  # later days whose rolling windows read the days: their rows too
    parameters: dict[str, dict[str, dict[str, Any]]]  # day -> operator -> as committed

    @property
    def rebuilt(self) -> list[str]:
        return sorted({*self.days, *self.pooling.days})


def plan(
    where: "Lake", registry: "Registry", request: "erase.Request", on_bad_file: OnBadFile
) -> Plan | None:
    """The sessions to forget: those of raw files, those a table holds though their raw files
    are gone, and those of an unfinished forget of the same request (its raw files went,
    perhaps its rows too: this one finishes it). None when the same request was forgotten and
    verified before."""
    from trajectory_assets.engine.committed import other_parameters
    from trajectory_assets.engine.windows import pooling
    from trajectory_assets.lake import erase, erase_raw
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.delta_history import refuse_linked_folders
    from trajectory_assets.lake.layout import parse_hive
    from trajectory_assets.lake.raw import list_raw_files

    catalog = Catalog(where, registry.tables)  # read only until the plan is made
    files = erase.raw_files(where, request)
    in_tables = erase.held_in_tables(catalog, request)  # raw files gone?
    forgotten = {f.session_id for f in files if f.session_id} | set(in_tables)
    last = erase.last_record(where, request)
    resumed = last if last is not None and not last[1].verified else None
    if resumed is not None:
        forgotten |= set(resumed[1].sessions)
    by_id = erase.Request(request.app_id, tuple(sorted(forgotten | set(request.session_ids))))
    misfiled = erase.misfiled_files(catalog, by_id, skip={f.path for f in files})
    if misfiled:  # a session filed whole under another session's folder is still forgotten
        forgotten |= set(by_id.session_ids)
    days = sorted(
        {f.dt for f in files}
        | {d for ds in in_tables.values() for d in ds}
        | {parse_hive(path)["dt"] for path in misfiled}
        | set(resumed[1].days if resumed is not None else ())
    )
    nameless = sum(1 for f in files if not f.session_id)  # a folder of a null session's
    what = f"{len(forgotten)} session(s) of {request.app_id} in {len(files) - nameless} raw file(s)"
    if misfiled:
        what += f" and rows of them in {len(misfiled)} other session(s)' raw file(s)"
    if nameless:
        what += f", and {nameless} raw file(s) of its rows of no session"
    nothing = not forgotten and not nameless
    if nothing and (records := erase.verified_records(where, request)):  # sent again
        named = ", ".join(where.display_path(path) for path in records)
        say(f"already forgotten, and verified then (record {named})")
        return None
    if nothing and (unfinished := erase.unfinished_record(where, request)):
        raise CliError(
            f"a forget of these sessions is unfinished (record {where.display_path(unfinished)}):"
            " send its request again to finish it"
        )
    if nothing:
        raise NothingToForget(
            f"nothing to forget: no raw files of those sessions of {request.app_id}, and no "
            "table holds them"
        )
    elsewhere = erase.held_elsewhere(where, catalog, request)
    if elsewhere:
        named = "; ".join(f"{t}: {', '.join(s[:3])}" for t, s in elsewhere.items())
        raise CliError(
            f"tables that no loaded operator writes hold these sessions ({named}), and forget "
            "could not rebuild them: give their code with --defs MODULE (or list it under "
            '"defs" in the lake\'s trajectory_assets.json) and run it again; nothing was deleted'
        )
    erase_raw.refuse_outside_targets(where, by_id, files, misfiled)
    pooled = pooling(catalog, registry, days, on_bad_file)
    for day in sorted({*days, *pooled.days}):  # what its rebuild and purge would refuse, named
        if any(catalog.state(t, day) for t in registry.tables):  # before anything is deleted
            list_raw_files(where, dt=day)  # (the days the rebuild lists)
    for table in registry.tables:
        refuse_linked_folders(where, table)
    parameters = other_parameters(catalog, registry, sorted({*days, *pooled.days}))
    return Plan(files, forgotten, misfiled, by_id, days, resumed, what, pooled, parameters)
