"""The registry: every operator of a code location, the tables they declare, and their order.

Filled from the operators' declarations only, and checked when it is built (that is, when a
code location loads), so a bad definition fails with a message naming the operator and the
problem instead of surfacing in the middle of a run.
"""

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from trajectory_assets.errors import DefinitionError
from trajectory_assets.lake.layout import RAW_TABLE, REPORT, REPORTS
from trajectory_assets.operator import Operator
from trajectory_assets.schema import EVENTS, TableSpec


@dataclass(frozen=True)
class Registry:
    """Operators in dependency order. `operators` are the ones this code location materializes;
    `upstream` are operators of another code location whose tables they may read."""

    operators: tuple[Operator, ...]
    upstream: tuple[Operator, ...] = ()

    @staticmethod
    def build(operators: Iterable[Operator], upstream: Iterable[Operator] = ()) -> "Registry":
        ours, theirs = list(operators), list(upstream)
        by_name = {op.name: op for op in ours}
        taken = [
            f"- operator {op.name!r} ({type(by_name[op.name]).__name__}) has the name of an "
            f"upstream operator ({type(op).__name__}, which writes {', '.join(op.output_names)}); "
            "a location cannot replace another's operator: give it a name of its own"
            for op in theirs
            if op.name in by_name and type(by_name[op.name]) is not type(op)
        ]
        # ours win over reconfigured copies; an operator that took another's name leaves that
        # one's tables known, so its readers are not reported as reading nothing
        theirs = [op for op in theirs if type(by_name.get(op.name)) is not type(op)]
        problems = taken + _problems(ours, theirs)
        if problems:
            raise DefinitionError("bad operator definitions:\n" + "\n".join(problems))
        return Registry(tuple(_ordered(ours)), tuple(theirs))

    @property
    def everyone(self) -> tuple[Operator, ...]:
        return (*self.upstream, *self.operators)

    @property
    def tables(self) -> dict[str, TableSpec]:
        """Every table this location can read: its own and its upstream's."""
        return {t.name: t for op in self.everyone for t in op.outputs}

    def producer(self, table: str) -> Operator | None:
        return next((op for op in self.everyone if table in op.output_names), None)

    def operator(self, name: str) -> Operator:
        """An operator of this location by its name or by the name of one of its tables."""
        found = next(
            (op for op in self.operators if name == op.name or name in op.output_names), None
        )
        if found is None:
            known = ", ".join(sorted({t for op in self.operators for t in op.output_names}))
            if name == RAW_TABLE:  # an asset of the UI, which records it and never computes it
                raise KeyError(
                    f"{RAW_TABLE} is the raw data, which ingest, serve and the event logger "
                    f"write and no run computes; assets are: {known}"
                )
            raise KeyError(f"unknown asset {name!r}; assets are: {known}")
        return found

    def ordered(self, selected: Iterable[Operator]) -> list[Operator]:
        """The selected operators in dependency order."""
        names = {op.name for op in selected}
        return [op for op in self.operators if op.name in names]

    def with_upstream(self, op: Operator) -> list[Operator]:
        """The operator and those of this location that write its inputs, and theirs, in
        dependency order: what a run of every asset computes before it."""
        chosen = {op.name}
        for candidate in reversed(self.operators):  # dependency order, read backwards
            if candidate.name in chosen:
                for name in candidate.inputs:
                    producer = self.producer(name)
                    if producer is not None and producer in self.operators:
                        chosen.add(producer.name)
        return [o for o in self.operators if o.name in chosen]

    def configured(self, operators: Sequence[Operator]) -> "Registry":
        """The same registry with some operators replaced by reconfigured copies of themselves."""
        by_name = {op.name: op for op in operators}
        return Registry(tuple(by_name.get(op.name, op) for op in self.operators), self.upstream)


def _problems(ours: Sequence[Operator], theirs: Sequence[Operator]) -> list[str]:
    """Every problem of every operator at once (one fix-and-reload per mistake is slow)."""
    problems: list[str] = []
    seen_ops: dict[str, Operator] = {}
    writers: dict[str, str] = {t: op.name for op in theirs for t in op.output_names}
    for op in ours:
        where = f"operator {getattr(op, 'name', type(op).__name__)!r}"
        lacking = [a for a in ("name", "version", "outputs") if not getattr(op, a, None)]
        if lacking:
            problems += [f"- {where}: it declares no `{a}`" for a in lacking]
            continue
        if op.name in seen_ops:
            same = seen_ops[op.name]
            problems.append(
                f"- {where} ({type(op).__name__}): {type(same).__name__}, which writes "
                f"{', '.join(same.output_names)}, has the same name: give it a name of its own"
            )
        seen_ops.setdefault(op.name, op)
        for spec in op.outputs:
            spelled = {t.lower(): t for t in writers if t != spec.name}.get(spec.name.lower())
            if taken := RESERVED.get(spec.name.lower()) or _lakes_own(spec.name):
                problems.append(f"- {where}: output {spec.name!r} is {taken}: give another name")
            elif spelled is not None:  # one view in a batch's SQL, one folder on macOS
                problems.append(
                    f"- {where}: output {spec.name!r} differs from the table {spelled!r} only in "
                    "case: give another name"
                )
            elif spec.name in writers:
                other = writers[spec.name]
                problems.append(f"- {where}: output {spec.name!r} is already written by {other!r}")
            writers.setdefault(spec.name, op.name)
            problems += [f"- {where}: output {spec.name!r}: {p}" for p in table_problems(spec)]
        if op.lookback_days and op.inputs[:1] == (RAW_TABLE,):
            problems.append(
                f"- {where}: a rolling window (`lookback_days`) reads a table, and its first "
                "input is raw_events: make a table its first input"
            )
        if op.lookback_days < 0:
            problems.append(f"- {where}: `lookback_days` is {op.lookback_days}: 0 or more")
        problems += [f"- {where}: {p}" for p in _params_problems(op)]
        if op.partial_schema is not None and type(op).merge is Operator.merge:
            problems.append(f"- {where}: it has a `partial_schema` but no `merge`")
        unknown = sorted(set(op.raw_columns or ()) - set(EVENTS.names))
        if unknown:
            problems.append(
                f"- {where}: `raw_columns` {unknown} are not raw_events columns "
                f"({', '.join(EVENTS.names)})"
            )
    for op in ours:
        for name in op.inputs:
            if name != RAW_TABLE and name not in writers:
                problems.append(
                    f"- operator {op.name!r}: input {name!r} is not raw_events nor a table any "
                    f"operator writes (known tables: {', '.join(sorted(writers))})"
                )
    if not problems:
        remaining = list(ours)
        while cycle := _cycle(remaining):  # each cycle, not just the first: one load, one fix
            problems.append(f"- operators {' -> '.join(cycle)}: their inputs form a cycle")
            remaining = [op for op in remaining if op.name not in cycle]
    return problems


RESERVED = {
    RAW_TABLE: "the raw events' name",
    "events": "the raw events' name in a batch",
    REPORTS: "the lake's folder of the daily report pages",
    REPORT: "the daily report's asset",
}
"""Names a table would share with something else: its folder would be another's (`vacuum
--full` deleted the report pages of a table named `reports`), or a batch would give one for
the other (a table named `events` read in place of the raw events)."""


def _lakes_own(name: str) -> str | None:
    if name.startswith("_"):
        return "a name of the lake's own (they start with `_`: `_staging`, `_rejected`, ...)"
    return None


def _params_problems(op: Operator) -> list[str]:
    """`params` must name the constructor's arguments, all of them when it names any: a run
    with parameters builds the operator from them, so a name it does not take would fail every
    run though the definitions load, and an argument left out would be dropped there (a change
    of it making no day stale)."""
    try:
        signature = inspect.signature(type(op).__init__)
    except (TypeError, ValueError):  # a constructor Python cannot describe: nothing to compare
        return []
    kinds = {p.kind for p in signature.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:  # takes anything (the default one among them)
        return []
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes = [n for n, p in list(signature.parameters.items())[1:] if p.kind in named]
    problems = []
    if extra := sorted(set(op.params) - set(takes)):
        problems.append(
            f"`params` names {', '.join(extra)}, which its constructor does not take "
            f"({', '.join(takes) or 'no arguments'}): a run with parameters could not build it"
        )
    if op.params and (left_out := [n for n in takes if n not in op.params]):  # configure()
        # rebuilds it from them alone (one without parameters is never rebuilt: an argument
        # such as the table it reads is its own business)
        problems.append(
            f"constructor argument(s) {', '.join(left_out)} are not in `params`: run config "
            "cannot set them and a change of them makes no day stale; return every argument "
            "from `params`"
        )
    return problems


def table_problems(spec: TableSpec) -> list[str]:
    """What is wrong with a table declaration (nothing: an empty list)."""
    names = set(spec.schema.names)
    problems = []
    if not spec.name.isidentifier():
        problems.append("its name must be an identifier (it is a SQL view name too)")
    if "dt" not in names:
        problems.append("its schema has no `dt` column (the day, partitioned by first)")
    elif spec.schema.field("dt").type != pa.string():
        problems.append(
            f"its `dt` column is {spec.schema.field('dt').type}, not a string (YYYY-MM-DD, as "
            "the raw lake's dt= folders and ctx.day)"
        )
    missing = [c for c in (*spec.partition_by, *spec.keys) if c not in names]
    if missing:
        problems.append(f"keys or partition columns {missing} are not in its schema")
    partitions = [spec.schema.field(c) for c in spec.partition_by if c in names]
    nested = [f.name for f in partitions if pa.types.is_nested(f.type)]
    if nested:
        problems.append(f"partition columns {nested} are not scalar")
    if not spec.keys:
        problems.append("it declares no keys")
    coarse = [f"{f.name} ({f.type})" for f in spec.schema if _not_microseconds(f.type)]
    if coarse:
        problems.append(
            f"timestamps {', '.join(coarse)} are not in microseconds, the one unit of a Delta "
            "timestamp: declare pa.timestamp('us', tz='UTC')"
        )
    return problems


def _not_microseconds(kind: pa.DataType) -> bool:
    """A timestamp of another unit, also inside a list or struct. Delta would hold it as
    microseconds while the declared type is read back: days written in two units could not be
    read as one."""
    if pa.types.is_timestamp(kind):
        return bool(kind.unit != "us")
    if pa.types.is_struct(kind):
        return any(_not_microseconds(kind.field(i).type) for i in range(kind.num_fields))
    if isinstance(kind, pa.ListType | pa.LargeListType | pa.FixedSizeListType | pa.MapType):
        return _not_microseconds(kind.value_type)
    return False


def _cycle(operators: Sequence[Operator]) -> list[str]:
    """Operator names around a cycle of inputs, or [] when there is none."""
    producer = {t: op.name for op in operators for t in op.output_names}
    edges = {op.name: {producer[i] for i in op.inputs if i in producer} for op in operators}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for nxt in sorted(edges[name]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[name] = 2
        return []

    for op in operators:
        if op.name not in state and (found := visit(op.name)):
            return found
    return []


def _ordered(ours: Sequence[Operator]) -> list[Operator]:
    """Producers before consumers, otherwise in the order given."""
    producer = {t: op.name for op in ours for t in op.output_names}
    done: set[str] = set()
    ordered: list[Operator] = []
    pending = list(ours)
    while pending:
        for op in pending:
            needs = {producer[i] for i in op.inputs if i in producer} - {op.name}
            if needs <= done:
                ordered.append(op)
                done.add(op.name)
                pending.remove(op)
                break
    return ordered
