"""Operator: a versioned, pure transformation of a Batch into one or more declared tables.

This is the public way to add a table: subclass `Operator`, declare its output `TableSpec`s and
its inputs, implement `transform` (and `merge` for a two-phase aggregate), and hand it to
`trajectory_assets.definitions`. The built-in tables are written exactly this way.

The engine, not the operator, normalises what comes back to the declared schemas, so every
runtime writes byte-identical tables and a wrong output is caught where it is produced.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator_code import code_digest
from trajectory_assets.schema import TableSpec


@dataclass(frozen=True)
class OpContext:
    """What an operator may know about the batch it runs on (never paths or runtimes)."""

    day: str
    batch_id: str


class Operator:
    """Subclass, declare the class attributes, implement `transform` (and `merge` for two-phase).

    - `name`: unique among operators; `version`: change it whenever the outputs would change
      (it is the Dagster code version, followed by `+` and a digest of `params` and lake files
      when it has any; part of every checkpoint key).
    - `outputs`: the `TableSpec`s it writes, all committed together for a day.
    - `inputs`: `raw_events` and/or tables; the first is the one batches are planned on. With
      `raw_events` first, batches are whole sessions, and any other input table arrives
      filtered to the batch's sessions; with a table first, batches are its day's files.
    - Two-phase operators set `partial_schema`: `transform` returns partial aggregates per
      batch, and `merge` turns all partials of a day into the outputs.
    - `raw_columns`: the raw columns it reads (None: all); the rest are never decoded.
    - Parameters (thresholds a user may set in run config) are constructor arguments with
      defaults, reported by `params`; they are part of the checkpoint key like `version`.
    - `lake_files`: small files of the lake root the operator depends on (the engine reads
      them once per run and passes them to `with_lake_files`, so `transform` stays pure).
    - `lookback_days`: a rolling window. Day D also reads the `lookback_days` days before D of
      its main (first) input, a committed table; the other inputs are D's alone. The rows keep
      their own `dt`, and those days are part of D's lineage (and of Dagster's asset graph), so
      D is recomputed when one of them changes.
    - `audit`: counts of each batch, kept with each day's commit, that the built-in checks
      compare with the committed tables (none by default). Checks of a table of your own are
      Dagster's `@asset_check`s in your code location's `defs`.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    outputs: ClassVar[tuple[TableSpec, ...]]
    output_names: ClassVar[tuple[str, ...]]
    inputs: ClassVar[tuple[str, ...]] = ("raw_events",)
    partial_schema: ClassVar[pa.Schema | None] = None
    raw_columns: ClassVar[tuple[str, ...] | None] = None  # None: every raw column
    lake_files: ClassVar[tuple[str, ...]] = ()
    lookback_days: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "outputs" in cls.__dict__:
            cls.output_names = tuple(t.name for t in cls.outputs)

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table | dict[str, pa.Table]:
        raise NotImplementedError

    def merge(self, ctx: OpContext, batch: Batch) -> pa.Table | dict[str, pa.Table]:
        raise NotImplementedError(f"{self.name} is not a two-phase operator")

    def audit(
        self, ctx: OpContext, batch: Batch, outputs: Mapping[str, pa.Table]
    ) -> dict[str, int]:
        """Counts of this batch that the built-in asset checks compare with the committed
        tables (summed per day, kept with the commit): taken from the batch the operator just
        read, so a check never reads the raw data again. None by default."""
        return {}

    @property
    def two_phase(self) -> bool:
        return self.partial_schema is not None

    @property
    def params(self) -> Mapping[str, Any]:
        """The parameters this instance was built with (constructor arguments); none here."""
        return {}

    def configure(self, **params: Any) -> "Operator":
        """A copy with some parameters changed (what run config does)."""
        if not params:
            return self
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise TypeError(f"operator {self.name} has no parameter(s) {unknown}")
        made = type(self)(**{**self.params, **params})
        if made.lookback_days < 0:  # a window of no days read nothing and committed empty days
            given = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise ValueError(f"{given} makes lookback_days {made.lookback_days}: 0 or more")
        return made

    def with_lake_files(self, files: Mapping[str, str | None]) -> "Operator":
        """A copy that knows the contents of its `lake_files` (None: the file is absent)."""
        return self

    @property
    def params_text(self) -> str:
        """The parameters as JSON text: what the fingerprint digests and a commit records (so
        parameters compare as it compares them: 1 and 1.0 differ)."""
        return json.dumps(dict(self.params), sort_keys=True, default=str)

    @property
    def fingerprint(self) -> str:
        """Everything besides the inputs that decides the outputs: the version, the parameters
        and whatever `with_lake_files` took in. Part of every attempt key."""
        text = f"{self.version}\0{self.params_text}\0{self.lake_files_digest}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def lake_files_digest(self) -> str:
        return ""

    @property
    def code_digest(self) -> str:
        """A digest of the operator's code (`operator_code`): a batch an earlier run finished is
        reused only by a run of the same code."""
        return code_digest(type(self), Operator)

    def describe(self) -> dict[str, str]:
        """What a materialization records about how this operator computed (e.g. the source
        and version of a price database); nothing by default."""
        return {}

    def input_days(self, day: str) -> list[str]:
        """The days of the main input that day `day` reads, oldest first, `day` last."""
        last = dt.date.fromisoformat(day)
        return [
            (last - dt.timedelta(days=back)).isoformat()
            for back in range(self.lookback_days, -1, -1)
        ]

    def spec(self, table: str) -> TableSpec:
        return next(t for t in self.outputs if t.name == table)
