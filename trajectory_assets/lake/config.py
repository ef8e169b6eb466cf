"""The lake's own settings, kept in the lake (`<lake>/trajectory_assets.json`), so that whoever
points a tool at the lake gets them without setting anything: the first day of its daily
partitions, the definitions modules of its own tables, the parameters its operators run with,
and its identity.

`generate` and `ingest` move `start_date` back to the earliest day they wrote; nothing moves it
forward, so a partition Dagster knows never disappears.
"""

import contextlib
import fcntl
import json
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from trajectory_assets.errors import SettingError, first_few
from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.layout import RAW_TABLE, UNTIMED_DAY, is_day
from trajectory_assets.lake.raw import list_days

CONFIG = "trajectory_assets.json"
LOCK = ".trajectory_assets.json.lock"  # hidden: a writer's own, not the lake's data
DEFAULT_START_DATE = "2025-01-01"


class ConfigDocument(TypedDict, total=False):
    """`trajectory_assets.json` as written; a key may be missing from a file written by hand."""

    start_date: str
    defs: list[str]
    params: dict[str, dict[str, Any]]
    lake_id: str


@dataclass(frozen=True)
class LakeConfig:
    start_date: str = DEFAULT_START_DATE
    defs: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Operator name -> its parameters: the values every run of this lake computes with (the
    command line, the notebook API, each code location), unless a run's config says otherwise;
    one place, so that a code location and the command line never compute a day two ways."""
    lake_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def read_config(lake: Lake) -> LakeConfig | None:
    """The lake's config, or None when it has none (a lake written by hand, or a new one).
    A file edited by hand is checked whole: a misspelt key or a value of the wrong kind is a
    SettingError naming the file and the key, never ignored."""
    path = lake.path(CONFIG)
    fs = lake.fs
    if not fs.exists(path):
        return None
    where = lake.display(CONFIG)
    try:
        data = json.loads(fs.cat_file(path).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingError(f"{where} is not valid JSON ({exc})") from None
    keys = ", ".join(ConfigDocument.__annotations__)
    if not isinstance(data, dict):
        raise SettingError(f"{where} holds {type(data).__name__}, not an object with {keys}")
    unknown = sorted(set(data) - set(ConfigDocument.__annotations__))
    if unknown:
        raise SettingError(f"{where}: unknown key(s) {first_few(unknown)}; the keys are {keys}")
    start_date = data.get("start_date", DEFAULT_START_DATE)
    if not is_day(start_date):
        raise SettingError(f"{where}: start_date {start_date!r} is not a day (YYYY-MM-DD)")
    if start_date < "1970-01-01":  # Dagster's daily keys name no such day (year 1 is '1-01-01')
        raise SettingError(f"{where}: start_date {start_date} is before 1970-01-01")
    defs = data.get("defs", [])
    if not isinstance(defs, list) or not all(isinstance(d, str) and d for d in defs):
        raise SettingError(
            f'{where}: defs {defs!r} is not a list of module names (e.g. ["my_tables.defs"])'
        )
    params = data.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise SettingError(
            f"{where}: params {params!r} is not an object of operators' parameters "
            '(e.g. {"sessionize": {"identical_run_threshold": 5}})'
        )
    lake_id = data.get("lake_id") or uuid.uuid4().hex
    if not isinstance(lake_id, str):
        raise SettingError(f"{where}: lake_id {lake_id!r} is not a string")
    return LakeConfig(start_date=start_date, defs=tuple(defs), params=params, lake_id=lake_id)


def write_config(lake: Lake, config: LakeConfig) -> None:
    document = ConfigDocument(
        start_date=config.start_date, defs=list(config.defs), lake_id=config.lake_id
    )
    if config.params:  # written by hand: kept, and not added where no one asked for it
        document["params"] = config.params
    write_file_atomic(lake, lake.path(CONFIG), json.dumps(document, indent=2).encode())


def cover_days(lake: Lake, days: list[str]) -> LakeConfig:
    """The config with the partitions starting no later than the earliest of `days`, saved. A
    lake without one starts at its earliest raw day as well (written by the logger, `serve` or
    another producer, which write no config): a config of `days` alone would hide those days.

    Two commands at once (two teammates' `ingest`) each read the file and wrote their own
    start: the later write moved the start forward past the other's days. On a local lake the
    file is read and written under a lock; an object store has none, so there the file is read
    again after the write, and written again while it does not cover `days` (which narrows the
    window to a read beside another's write, without closing it)."""
    with _locked(lake):
        for _ in range(5):
            config = _cover(lake, days)
            again = read_config(lake)
            if again is not None and (not days or again.start_date <= min(days)):
                return again
        return config


@contextlib.contextmanager
def _locked(lake: Lake) -> Iterator[None]:
    if not lake.is_local:
        yield
        return
    os.makedirs(lake.root, exist_ok=True)
    with open(os.path.join(lake.root, LOCK), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cover(lake: Lake, days: list[str]) -> LakeConfig:
    current = read_config(lake)
    if current is None:
        days = [*days, *(d for d in list_days(lake) if d != UNTIMED_DAY)]
    config = current or LakeConfig(start_date=min(days) if days else DEFAULT_START_DATE)
    if days and min(days) < config.start_date:
        config = replace(config, start_date=min(days))
    if config != current:
        write_config(lake, config)
    return config


def read_lake_files(lake: Lake, names: Iterable[str]) -> dict[str, str | None]:
    """Small files of the lake root that operators depend on (e.g. price overrides), by name;
    None for one that is absent."""
    fs = lake.fs
    found: dict[str, str | None] = {}
    for name in sorted(set(names)):
        path = lake.path(name)
        try:
            found[name] = fs.cat_file(path).decode() if fs.exists(path) else None
        except UnicodeDecodeError as exc:
            raise SettingError(
                f"{lake.display(name)} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
            ) from None
    return found


def a_table_not_a_lake(lake: Lake) -> str | None:
    """Why the lake's root is no lake when it is a Delta table's folder (a table given for its
    lake: raw data written inside it, later deleted by its vacuum), else None."""
    if not lake.fs.exists(lake.path("_delta_log")):
        return None
    return _A_TABLE.format(lake.display())


_A_TABLE = (
    "{} is a Delta table (it holds _delta_log/), not a lake: give the folder of the lake that "
    "holds it"
)


def not_a_lake(lake: Lake) -> str | None:
    """Why the folder at the lake's root is no lake, or None when it may be one. An empty folder
    is a new lake; a folder of other things (a home folder, a project holding the lake one
    level down) would otherwise read as a lake with nothing materialized."""
    fs = lake.fs
    if fs.isfile(lake.root):
        return f"{lake.display()} is a file, not a lake folder"
    names = sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(lake.root, detail=False))
    names = [n for n in names if not n.startswith(".")]
    if "_delta_log" in names:  # a table of a lake: its raw data and tables went inside it
        return _A_TABLE.format(lake.display())
    if not names or RAW_TABLE in names or CONFIG in names or any(n.startswith("_") for n in names):
        return None
    if any(fs.exists(lake.path(n, "_delta_log")) for n in names):
        return None
    inside = [n for n in names if fs.exists(lake.path(n, RAW_TABLE))]
    hint = f"; did you mean {lake.display(inside[0])}?" if inside else ""
    held = first_few(names)
    return (
        f"{lake.display()} holds no lake: neither {RAW_TABLE}/, {CONFIG} nor Delta tables, "
        f"but {held}{hint}"
    )
