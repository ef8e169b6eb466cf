"""The catalog: which tables exist, and what their current versions hold.

Tier B tables are read through Delta, so a reader sees exactly one committed version of each
day on every store. A Catalog caches each table's snapshot for its own lifetime (one planning
step, one check), so make a new one, or call `refresh`, to see later commits.
"""

import bisect
import difflib
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from trajectory_assets.errors import UnknownTableError
from trajectory_assets.lake import delta, delta_history, delta_read, snapshots
from trajectory_assets.lake.delta import DataFile, PartitionState, Snapshot
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE, is_day
from trajectory_assets.lake.raw import RawFile, SessionRange, list_raw_files
from trajectory_assets.lake.raw_read import read_events
from trajectory_assets.schema import EVENTS, RAW_EVENTS, TableSpec

RAW_SPEC = TableSpec(RAW_TABLE, RAW_EVENTS, ("app_id", "session_id"), ("event_id",))


FILES_AT_ONCE = 16
"""Data files a reader of scattered files fetches at once: on an object store each comes whole."""


class Catalog:
    """Maps table names to their TableSpecs (the registry's, given) and answers questions about
    their committed days."""

    def __init__(self, lake: Lake, tables: Mapping[str, TableSpec]) -> None:
        self.lake = lake
        self._tables: dict[str, TableSpec] = {RAW_TABLE: RAW_SPEC, **tables}
        self._snapshots: dict[str, Snapshot] = {}

    def get(self, name: str) -> TableSpec:
        try:
            return self._tables[name]
        except KeyError:
            if self.lake.fs.exists(self.lake.path(name, delta_history.LOG)):
                raise UnknownTableError(
                    f"{name} is a table of {self.lake.display()} that no loaded operator writes: "
                    "load its operator's module (connect(..., defs=MODULE), or --defs MODULE); "
                    f"a table its operator no longer writes reads with any Delta reader, at "
                    f"{self.lake.display(name)}"
                ) from None
            known = ", ".join(sorted(self._tables))
            raise UnknownTableError(f"unknown table {name!r}; the catalog has: {known}") from None

    def snapshot(self, name: str) -> Snapshot:
        self.get(name)
        if name == RAW_TABLE:
            raise ValueError("raw_events is plain Parquet: list it with lake.raw")
        if name not in self._snapshots:
            self._snapshots[name] = snapshots.current(self.lake, name)
        return self._snapshots[name]

    def refresh(self) -> None:
        self._snapshots.clear()

    def days(self, name: str) -> list[str]:
        """Days with a committed partition (raw: days with a folder)."""
        if name == RAW_TABLE:
            from trajectory_assets.lake.raw import list_days

            return list_days(self.lake)
        return self.snapshot(name).days()

    def state(self, name: str, day: str) -> PartitionState | None:
        """The current files of a day, and the attempt that committed them; None if never."""
        return self.snapshot(name).state(day)

    def files(self, name: str, day: str) -> list[DataFile]:
        return self.snapshot(name).day_files(day)

    def read(
        self,
        name: str,
        *,
        dt: str | date | None = None,
        dt_from: str | date | None = None,
        dt_to: str | date | None = None,
        app_id: str | Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
        version: int | None = None,
        as_of: datetime | str | None = None,
    ) -> pa.Table:
        """The rows of a table (current, or at a version or time), in key order, pruned by day
        and app (one or several): the files of other partitions are never opened.
        NoSuchVersionError for a version, or a time, its log does not hold. `raw_events` gives
        the raw files' events as operators see them (file by file, in file order); it has no
        versions. A mistake in the options raises, rather than reading 0 rows as if the lake
        had none."""
        spec = self.get(name)
        dt, dt_from, dt_to = checked_days(dt, dt_from, dt_to)
        columns = checked_columns(name, EVENTS if name == RAW_TABLE else spec.schema, columns)
        if name == RAW_TABLE:
            if version is not None or as_of is not None:
                raise ValueError(
                    f"{RAW_TABLE} is append-only Parquet, not Delta: it has no versions"
                )
            return self._raw(dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=app_id, columns=columns)
        wanted = checked_as_of(as_of) if as_of is not None else version
        if wanted is not None:
            version = delta_history.version_as_of(self.lake, name, wanted)
        return delta_read.read(
            self.lake,
            spec,
            filter=partition_filter(spec, dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=app_id),
            columns=columns,
            version=version,
        )

    def _raw(
        self,
        *,
        dt: str | None,
        dt_from: str | None,
        dt_to: str | None,
        app_id: str | Sequence[str] | None,
        columns: list[str] | None,
    ) -> pa.Table:
        one_app = app_id if app_id is None or isinstance(app_id, str) else None
        files = list_raw_files(self.lake, dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=one_app)
        if app_id is not None and one_app is None:
            files = [f for f in files if f.app_id in set(app_id)]
        by_day: dict[str, list[RawFile]] = {}
        for f in files:
            by_day.setdefault(f.dt, []).append(f)
        days = [read_events(self.lake, day_files).events for _, day_files in sorted(by_day.items())]
        events = pa.concat_tables(days) if days else EVENTS.empty_table()
        return events.select(columns) if columns is not None else events

    def head(self, name: str, day: str, rows: int) -> pa.Table:
        """The first rows of a table's day, from its first file alone: a preview that costs a
        file, not the day."""
        files = [f for f in self.files(name, day) if not f.known_empty][:1]
        return delta_read.read_files(self.lake, self.get(name), files).slice(0, rows)

    def day_rows(self, name: str, day: str, columns: list[str]) -> pa.Table:
        """A day's current rows in file order, read file by file from this catalog's snapshot:
        for a reader of many days of one version that only counts or sums. One pyarrow dataset
        of the table would serve every day too, but it keeps what it learns of each file it
        reads, so reading every day of a table of thousands of small files grows by them
        (7 MB a day for the 153 files a day of `errors` at 10M events)."""
        return delta_read.read_files(self.lake, self.get(name), self.files(name, day), columns)

    def session_rows(
        self,
        name: str,
        app_id: str,
        session_ids: Collection[str],
        columns: Sequence[str],
        *,
        before: str | None = None,
    ) -> pa.Table:
        """`columns` of the rows of an app's given sessions, from the files whose log entry
        allows them (their app, their range of session ids): a forget of a few sessions reads
        a few files of each day of a lake a year old (one, where ids grow with time), not every
        row of the app. `before`: also every session of the app on the days before it (a
        forget's `--before`), whose rows on later days (a replay filed by the day it ran) are
        then picked as the named ones' are: the other days' files are not read whole."""
        spec = self.get(name)
        of_app = [
            f
            for f in self.snapshot(name).files
            if f.values.get("app_id", app_id) == app_id  # its folder's app, or
            and (f.sessions is None or f.sessions[0] == app_id)  # its rows' one app
        ]
        keys = ["app_id", "session_id"]
        read = [*keys, *(c for c in columns if c not in keys)]
        found = [pa.schema([spec.schema.field(c) for c in read]).empty_table()]
        wanted = set(session_ids)
        if before is not None:
            early = [f for f in of_app if f.day < before and not f.known_empty]
            rows = self._app_rows(spec, early, read, app_id, None)
            wanted |= {str(s) for t in rows for s in t["session_id"].to_pylist() if s is not None}
            found += rows
            of_app = [f for f in of_app if f.day >= before]
        named = sorted(wanted)
        files = overlapping(of_app, [(app_id, s, s) for s in named]) if named else []
        found += self._app_rows(spec, files, read, app_id, named)
        return pa.concat_tables(found).select(list(columns))

    def _app_rows(
        self,
        spec: TableSpec,
        files: Sequence[DataFile],
        columns: Sequence[str],
        app_id: str,
        named: Sequence[str] | None,
    ) -> list[pa.Table]:
        """The app's rows of the files (of the `named` sessions only, unless None), a few files
        at a time: on an object store each is fetched whole."""
        found = []
        for start in range(0, len(files), FILES_AT_ONCE):
            rows = delta_read.read_files(
                self.lake, spec, files[start : start + FILES_AT_ONCE], columns
            )
            mask = pc.equal(pc.cast(rows["app_id"], pa.string()), app_id)
            if named is not None:
                sessions = pc.cast(rows["session_id"], pa.string())
                mask = pc.and_(mask, pc.is_in(sessions, pa.array(named, pa.string())))
            found.append(rows.filter(mask))
        return found

    def file_rows(self, name: str, day: str, columns: list[str]) -> Iterator[pa.Table]:
        """A day's rows one file at a time, for a reader whose memory must not grow with the
        day."""
        spec = self.get(name)
        for f in self.files(name, day):
            if not f.known_empty:
                yield delta_read.read_files(self.lake, spec, [f], columns)

    # Last in the class body: a method named `list` would shadow the builtin in later annotations.
    def list(self) -> list[str]:
        return sorted(self._tables)


def checked_days(
    dt: str | date | None, dt_from: str | date | None, dt_to: str | date | None
) -> tuple[str | None, str | None, str | None]:
    """The day options as YYYY-MM-DD (a `date` is a day too; a `datetime` is not)."""
    days = {
        option: None if value is None else as_day(value, option)
        for option, value in (("dt", dt), ("dt_from", dt_from), ("dt_to", dt_to))
    }
    first, last = days["dt_from"], days["dt_to"]
    if days["dt"] is not None and (first or last):
        raise ValueError("give dt= for one day, or dt_from=/dt_to= for a range, not both")
    if first and last and first > last:
        raise ValueError(f"dt_to={last!r} is before dt_from={first!r}")
    return days["dt"], first, last


def checked_as_of(as_of: datetime | str) -> datetime:
    """A moment to read a table as of: a datetime with its zone, or ISO 8601 text, UTC when it
    gives no zone (as the command line's `--as-of`). A datetime without a zone is refused: it
    is the machine's local time to some and UTC to others."""
    if isinstance(as_of, str):
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"as_of={as_of!r} is not an ISO 8601 time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not isinstance(as_of, datetime):
        raise TypeError(f"as_of takes a datetime or ISO 8601 text, not {as_of!r}")
    if as_of.tzinfo is None:
        raise ValueError(
            f"as_of={as_of.isoformat()} has no time zone; give one, as in "
            "datetime(2026, 12, 1, tzinfo=timezone.utc)"
        )
    return as_of


def checked_columns(
    name: str, schema: pa.Schema, columns: Sequence[str] | None
) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise TypeError(f"columns takes a list of names, not one string: columns=[{columns!r}]")
    if not columns:
        raise ValueError("columns=[] names no column; leave columns out to read them all")
    twice = sorted({c for c in columns if list(columns).count(c) > 1})
    if twice:
        raise ValueError(f"columns names {', '.join(map(repr, twice))} more than once")
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        named = [_maybe(c, schema.names) for c in unknown]
        raise ValueError(
            f"{name} has no column {', '.join(named)}; its columns: {', '.join(schema.names)}"
        )
    return list(columns)


def _maybe(column: str, names: list[str]) -> str:
    close = difflib.get_close_matches(column, names, n=1)
    return f"{column!r} (did you mean {close[0]!r}?)" if close else repr(column)


def as_day(value: str | date, option: str) -> str:
    """A day as YYYY-MM-DD, from that string or a `date` (a `datetime` is a time, not a day)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if is_day(value):
        return value
    raise ValueError(f"{option}={value!r} is not a day (YYYY-MM-DD)")


def partition_filter(
    spec: TableSpec,
    *,
    dt: str | None = None,
    dt_from: str | None = None,
    dt_to: str | None = None,
    app_id: str | Sequence[str] | None = None,
) -> ds.Expression | None:
    """A pyarrow filter on partition columns (None: everything)."""
    terms = []
    if dt is not None:
        terms.append(ds.field("dt") == dt)
    if dt_from is not None:
        terms.append(ds.field("dt") >= dt_from)
    if dt_to is not None:
        terms.append(ds.field("dt") <= dt_to)
    if app_id is not None:
        if "app_id" not in spec.schema.names:
            raise ValueError(f"{spec.name} has no app_id column to filter on")
        one = isinstance(app_id, str)
        if not one and not app_id:
            raise ValueError("app_id=[] names no app; leave app_id out to read every app")
        terms.append(ds.field("app_id") == app_id if one else ds.field("app_id").isin(app_id))
    if not terms:
        return None
    expression = terms[0]
    for term in terms[1:]:
        expression = expression & term
    return expression


def partitions_of_files(
    lake: Lake, spec: TableSpec, where: ds.Expression | None
) -> dict[str, dict[str, str]]:
    """The current data files of the partitions `where` selects (None: all), each path with
    its partition values, which the Delta log keeps (not the files): for a reader of the
    files alone (Ray's Parquet reader) to fill them in."""
    files = snapshots.current(lake, spec.name).files
    values = pa.Table.from_pylist(
        [{**dict(f.partition), "__path": lake.path(spec.name, f.path)} for f in files],
        schema=pa.schema(
            [
                *(pa.field(c, pa.string()) for c in delta.partition_columns(spec)),
                pa.field("__path", pa.string()),
            ]
        ),
    )
    if where is not None:
        values = values.filter(where)
    return {row.pop("__path"): row for row in values.to_pylist()}


def overlapping(
    files: Sequence[DataFile], sessions: Sequence[SessionRange]
) -> tuple[DataFile, ...]:
    """The files that may hold rows of these sessions: same app, overlapping range (a file
    without a known range may hold any session). A binary search a file, not a comparison with
    every range: a forget `--before` looks for a month of sessions in a year of files."""
    if not sessions:
        return tuple(f for f in files if not f.known_empty)
    starts: dict[str, list[str]] = {}  # per app, the ranges' first ids in order
    reach: dict[str, list[str]] = {}  # and the furthest last id of the ranges up to each
    for app, first, last in sorted(sessions):
        starts.setdefault(app, []).append(first)
        ends = reach.setdefault(app, [])
        ends.append(max(last, ends[-1]) if ends else last)

    def may_hold(f: DataFile) -> bool:
        if f.sessions is None:
            return True
        app, low, high = f.sessions
        begun = bisect.bisect_right(starts.get(app, []), high)  # ranges starting by its last
        return begun > 0 and reach[app][begun - 1] >= low

    return tuple(f for f in files if not f.known_empty and may_hold(f))
