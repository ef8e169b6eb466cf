"""Lineage by attempt keys: what a day of an operator's outputs is computed from, and whether the
committed day still is.

An attempt key digests the operator (version, parameters, lake files), the day, the bad-file
rule and the inputs: the raw files' names, sizes and times, and each input table's day as
identified by the attempt that committed it. Committed files carry their attempt's key, so
"is this day current?" is a comparison of keys, and a whole chain of operators can be keyed
before any of them runs (an input computed in the same run is identified by its own key).
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import MissingUpstreamError, RawLayoutError
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.config import read_lake_files
from trajectory_assets.lake.delta import PartitionState
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import RawFile, fingerprint, list_raw_files
from trajectory_assets.lake.schemas import schema_digest
from trajectory_assets.lake.staging import attempt_key
from trajectory_assets.operator import Operator


@dataclass(frozen=True)
class DayKeys:
    """The attempt key and input fingerprint of each operator of a run, for one day."""

    day: str
    keys: dict[str, str]  # operator name -> attempt key
    inputs: dict[str, str]  # operator name -> input fingerprint


def not_materialized(lake: Lake, tables: Sequence[str], day: str, raw: Sequence[RawFile]) -> str:
    """`tables dt=day, which ... not been materialized; what to do`: materialize them first, or
    nothing to, when the day has no raw data (`raw`: the day's files, if already listed)."""
    names, many = ", ".join(tables), len(tables) > 1
    fix = (
        f"materialize {names} for that day first"
        if raw or list_raw_files(lake, dt=day)
        else f"and there is no raw data for {day} to compute {'them' if many else 'it'} from"
    )
    return f"{names} dt={day}, which {'have' if many else 'has'} not been materialized; {fix}"


def day_keys(
    operators: Sequence[Operator],
    catalog: Catalog,
    day: str,
    raw: Sequence[RawFile],
    on_bad_file: OnBadFile,
    planned: Mapping[tuple[str, str], str] | None = None,
) -> DayKeys:
    """Keys of `operators` (in dependency order) for a day: inputs written by an earlier one of
    them are identified by its key, the others by their committed state; a rolling window's
    earlier day that `planned` ((table, day) → key) says is computed again first, by that key."""
    produced: dict[str, str] = {}
    keys: dict[str, str] = {}
    inputs: dict[str, str] = {}
    raw_print = fingerprint(raw)
    for op in operators:
        identities = []
        for name in op.inputs:
            if name == RAW_TABLE:
                continue
            if name in produced:
                identities.append((name, produced[name]))
                continue
            state = catalog.state(name, day)
            if state is None:
                missing = not_materialized(catalog.lake, [name], day, raw)
                raise MissingUpstreamError(f"{op.name} dt={day} reads {missing}")
            identities.append((name, identity(state)))
        for earlier in op.input_days(day)[:-1]:  # a rolling window's earlier days, if any
            state = catalog.state(op.inputs[0], earlier)
            known = (planned or {}).get((op.inputs[0], earlier))
            identities.append(
                (f"{op.inputs[0]} {earlier}", known or (identity(state) if state else ""))
            )
        text = (raw_print if RAW_TABLE in op.inputs else "") + repr(identities)
        inputs[op.name] = hashlib.sha256(text.encode()).hexdigest()
        keys[op.name] = attempt_key(
            op.name, day, op.fingerprint, f"{inputs[op.name]}\0{on_bad_file}"
        )
        produced.update(dict.fromkeys(op.output_names, keys[op.name]))
    return DayKeys(day, keys, inputs)


def identity(state: PartitionState) -> str:
    """A committed day as an input: the attempt that wrote it (or its files, for a day written
    by someone else)."""
    return (
        state.attempt
        or hashlib.sha256(repr(sorted(f.path for f in state.files)).encode()).hexdigest()
    )


def in_lake(lake: Lake, operators: Sequence[Operator]) -> list[Operator]:
    """The operators as they compute on this lake: knowing its files they depend on (e.g. the
    price overrides), read once, which are part of their fingerprints and so of every key.
    Whatever compares keys (a run, `--missing`, the sensor, `explain`) must use these."""
    files = read_lake_files(lake, {n for op in operators for n in op.lake_files})
    return [op.with_lake_files(files) for op in operators]


def is_current(op: Operator, catalog: Catalog, day: str, key: str) -> bool:
    """Every output's day was committed by this attempt, with the columns the operator declares
    now."""
    by_key = all(_by(catalog.state(t, day), key) for t in op.output_names)
    return by_key and not of_another_schema(op, catalog, day)


def of_another_schema(op: Operator, catalog: Catalog, day: str) -> list[str]:
    """The outputs whose day holds files of another schema than the operator declares: one with
    a column declared since (its version unchanged) is null there until the day is written
    again. A file older than schema digests counts as the declared schema."""
    stale = []
    for spec in op.outputs:
        state, schema = catalog.state(spec.name, day), schema_digest(spec)
        if state is not None and any(f.schema not in (None, schema) for f in state.files):
            stale.append(spec.name)
    return stale


def _by(state: PartitionState | None, key: str) -> bool:
    return state is not None and state.attempt == key


def fresh_compacted(
    registry: Registry,
    catalog: Catalog,
    day: str,
    raw: Sequence[RawFile],
    on_bad_file: OnBadFile,
) -> PartitionState | None:
    """raw_compacted's day when its operator computed it from exactly the raw files listed now,
    with the same bad-file rule; None when missing, stale, of another version, or when no
    operator of this location writes raw_compacted."""
    compaction = registry.producer(COMPACTED_TABLE)
    state = catalog.state(COMPACTED_TABLE, day) if compaction is not None else None
    if compaction is None or state is None:
        return None
    expected = day_keys([compaction], catalog, day, raw, on_bad_file).keys[compaction.name]
    return state if state.attempt == expected else None


@dataclass(frozen=True)
class StaleDay:
    """A day on which some operators are not current: them (as they compute on the lake), and
    the keys a run of all the operators asked about would compute (`why_stale` reads them)."""

    operators: list[Operator]
    keys: DayKeys


def stale_days(
    lake: Lake,
    registry: Registry,
    operators: Sequence[Operator],
    days: Sequence[str],
    on_bad_file: OnBadFile = "fail",
    catalog: Catalog | None = None,
) -> dict[str, StaleDay]:
    """The days on which one of the operators has no day, or one committed from other inputs
    than it has now (what `materialize --missing` runs, `explain` warns of and the `--assets`
    note names), each with those operators and the day's keys (`catalog`: the caller's, whose
    snapshots it has loaded already). Days are taken in order: a day whose rolling window reads
    an earlier day computed again first is stale too (late data on day 1 changes day 2's
    two-day window; one `--missing` left day 2 for the next)."""
    if not operators:
        return {}
    ops = in_lake(lake, registry.ordered(operators))
    catalog = catalog or Catalog(lake, registry.tables)
    stale: dict[str, StaleDay] = {}
    planned: dict[tuple[str, str], str] = {}  # (table, day) -> the key a run commits it by
    problems: list[RawLayoutError] = []  # every day's at once, not one command per day
    for day in sorted(days):
        try:
            raw = list_raw_files(lake, dt=day)
        except RawLayoutError as exc:
            problems.append(exc)
            continue
        keys = day_keys(ops, catalog, day, raw, on_bad_file, planned)
        due = [op for op in ops if not is_current(op, catalog, day, keys.keys[op.name])]
        if due:
            stale[day] = StaleDay(due, keys)
            planned.update({(t, day): keys.keys[op.name] for op in due for t in op.output_names})
    if problems:
        first, others = problems[0], [p.path for p in problems[1:]]
        also = f"; so is raw data of {len(others)} more day(s): {', '.join(others[:3])}"
        raise RawLayoutError(first.path, first.problem + (also if others else ""))
    return stale


def stale_keys(
    operators: Sequence[Operator],
    catalog: Catalog,
    day: str,
    raw: Sequence[RawFile],
    on_bad_file: OnBadFile = "fail",
) -> dict[str, str] | None:
    """The attempt keys a run of the operators would compute for the day, when one of them is
    not current (None when all are): what names that run."""
    keys = day_keys(operators, catalog, day, raw, on_bad_file).keys
    return None if all(is_current(op, catalog, day, keys[op.name]) for op in operators) else keys


def ready_for(
    operators: Sequence[Operator], catalog: Catalog, day: str
) -> tuple[list[Operator], list[str]]:
    """The operators (in dependency order) whose inputs are there for the day, and the tables
    of another code location that the others wait for: a location computing from another's
    tables runs a day once that location committed them (its runs are its own schedule's, at
    a time of its own), not before, which failed its run. Inputs these operators write come
    from the same run; a rolling window's earlier days may be missing (a shorter window)."""
    here = {RAW_TABLE, *(t for op in operators for t in op.output_names)}
    blocked: set[str] = set()
    ready: list[Operator] = []
    waiting: list[str] = []
    for op in operators:
        absent = [n for n in op.inputs if n not in here and catalog.state(n, day) is None]
        if absent or blocked & set(op.inputs):
            blocked.update(op.output_names)
            waiting += [n for n in absent if n not in waiting]
            continue
        ready.append(op)
    return ready, waiting
