"""The driver's commit of an operator's day: the intent first, then one Delta transaction per
table in the operator's declared order; and the roll-forward of intents an interrupted run left.

Once the intent is written, the attempt rolls forward: a later run completes its commits before
anything else (`roll_forward`). Five cases drop it instead: another writer superseded it (the
intent is withdrawn), its files were deleted under it, they hold another schema than the
operator's now, other code than the operator's now computed them and none of its tables is
committed yet (a fix, or an upgrade, with the version kept), or its receipts are gone (a
clean-up after its commits, interrupted: the attempt is discarded, and the day computed anew
where its tables are not this attempt's).
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence

from trajectory_assets.engine.plan import DayPlan
from trajectory_assets.engine.results import DayResult, TableDay
from trajectory_assets.errors import ConcurrentWriterError, MissingDataFileError
from trajectory_assets.lake import delta_commit
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import OperatorCommitInfo, commit_info
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.lake.schemas import schema_digest
from trajectory_assets.lake.staging import (
    Attempt,
    BatchReceipt,
    Intent,
    committing_now,
    discard,
    empty_file,
    finish,
    finished_batches,
    pending_attempts,
    read_intent,
    withdraw_intent,
    write_intent,
)
from trajectory_assets.operator import Operator
from trajectory_assets.schema import TableSpec

SKIPPED_FILES = "skipped_files"
"""The audit's count of raw files a run skipped as unreadable (`on_bad_file: skip`)."""


def roll_forward(
    op: Operator, lake: Lake, days: Sequence[str], progress: Callable[[str], None]
) -> None:
    """Finish commits an earlier, interrupted run had decided on, before anything else."""
    specs = {t.name: t for t in op.outputs}
    for day in days:
        for attempt in pending_attempts(lake, op.name, day):
            intent = read_intent(attempt)
            assert intent is not None
            if pid := committing_now(intent):
                raise ConcurrentWriterError(
                    f"{op.name} dt={day} is being committed now by run "
                    f"{intent['metadata'].get('run_id', 'unknown')} (process {pid} of this "
                    "machine, outside this run's Dagster instance); this run commits nothing "
                    "of the day. Only one materialization of a table and day may run at a time: "
                    "run again once it has ended."
                )
            finished = finished_batches(attempt)
            if lost := [b for b in intent["batches"] if b not in finished]:
                discard(attempt)  # an older version's clean-up, interrupted, removed them first
                progress(_without_receipts(op, lake, day, attempt.key, len(lost), intent))
                continue
            receipts = [finished[b] for b in intent["batches"]]
            if staged_of_another_schema(receipts, specs):
                discard(attempt)
                progress(
                    f"{op.name} dt={day}: the interrupted commit {attempt.key} holds files of "
                    "another schema than the operator's now: dropped, the day is computed anew"
                )
                continue
            other_code = any(r.code != op.code_digest for r in receipts)  # (an older
            # release's receipts name none)
            if other_code and not _committed_by(lake, specs, intent, day, attempt.key):
                discard(attempt)
                progress(
                    f"{op.name} dt={day}: the interrupted commit {attempt.key} was computed by "
                    "other code than the operator's now: dropped, the day is computed anew"
                )
                continue
            progress(
                f"{op.name} dt={day}: completing the interrupted commit {attempt.key}"
                + (
                    ", computed by other code than the operator's now (some of its tables are "
                    "committed: the others must agree with them); --force computes it anew"
                    if other_code
                    else ""
                )
            )
            try:
                _commit_tables(attempt, specs, receipts, intent, since={})
            except MissingDataFileError as exc:
                discard(attempt)
                progress(f"{exc} The interrupted commit is dropped: the day is computed anew")
                continue
            finish(attempt)


def _committed_by(
    lake: Lake, specs: Mapping[str, TableSpec], intent: Intent, day: str, key: str
) -> list[str]:
    """The intent's tables whose day the interrupted commit `key` committed (an older version's
    intent may name a table the operator no longer writes). One committed, the commit is
    completed whatever computed it, so that the operator's tables never disagree."""
    catalog = Catalog(lake, specs)
    return [
        t
        for t in intent["tables"]
        if t in specs and getattr(catalog.state(t, day), "attempt", None) == key
    ]


def _without_receipts(
    op: Operator, lake: Lake, day: str, key: str, lost: int, intent: Intent
) -> str:
    """What dropping an intent whose receipts are gone leaves: the tables it committed before
    its clean-up was interrupted are its own; any other is computed anew by this run."""
    committed = _committed_by(lake, {t.name: t for t in op.outputs}, intent, day, key)
    others = [t for t in intent["tables"] if t not in committed]
    left = (
        f"{', '.join(others)} not committed by it: computed anew"
        if others
        else "every table of the day committed by it"
    )
    return (
        f"{op.name} dt={day}: dropped the interrupted commit {key}, whose receipts of {lost} of "
        f"its {len(intent['batches'])} batches are gone (its clean-up was interrupted); {left}"
    )


def staged_of_another_schema(
    receipts: Sequence[BatchReceipt], specs: Mapping[str, TableSpec]
) -> bool:
    """Files written before the operator's schema changed (files older than schema digests
    are taken as they are)."""
    digests = {name: schema_digest(spec) for name, spec in specs.items()}
    return any(
        staged.file.schema not in (None, digests[staged.table])
        for r in receipts
        for staged in r.files
        if staged.table in digests  # not the partials of a two-phase operator
    )


def day_audit(batches: Sequence[Iterable[tuple[str, int]]]) -> dict[str, int]:
    """The day's counts, the sum of its batches'. A count some batches lack (receipts written
    by an older version, an attempt resumed after an upgrade) is no count of the day: left out,
    so its check says it was not counted rather than passing on part of the day."""
    audit: dict[str, int] = {}
    keys: list[set[str]] = []
    for counts in batches:
        keys.append(set())
        for key, value in counts:
            audit[key] = audit.get(key, 0) + value
            keys[-1].add(key)
    every = set.intersection(*keys) if keys else set()
    return {key: value for key, value in audit.items() if key in every}


def commit_day(
    op: Operator,
    d: DayPlan,
    receipts: Mapping[str, BatchReceipt],
    run_id: str,
    versions: Mapping[str, int],
) -> DayResult:
    """Commit the operator's day of the plan from its batches' receipts (the merge's alone for
    a two-phase operator): the intent, then each table."""
    merge_id = d.merge_id(op)
    map_receipts = [r for b, r in receipts.items() if b != merge_id]
    final = [receipts[merge_id]] if op.two_phase else map_receipts
    skipped = tuple(sorted({s for r in map_receipts for s in r.skipped_files}))
    unknown = tuple(sorted({u for r in map_receipts for u in r.unknown_columns}))
    audit = day_audit([r.audit for r in map_receipts])
    if skipped:  # for the checks: rows of these files are in no table
        audit[SKIPPED_FILES] = len(skipped)
    source = d.source if RAW_TABLE in op.inputs else op.inputs[0]
    metadata: OperatorCommitInfo = {
        "operator": op.name,
        "operator_version": op.version,
        "operator_fingerprint": op.fingerprint,
        "attempt": d.keys.keys[op.name],
        "input_fingerprint": d.keys.inputs[op.name],
        # what the fingerprint digests, readable: how a table's numbers were made, kept by the
        # lake itself (the parameters, and for priced tables the prices and overrides' rates)
        "operator_params": op.params_text,
        "operator_described": json.dumps(op.describe(), sort_keys=True),
        "source": source,
        "run_id": run_id,
        "skipped_files": json.dumps([list(s) for s in skipped]),
        "audit": json.dumps(audit, sort_keys=True),
    }
    attempt = d.attempt(op)
    intent = write_intent(attempt, op.output_names, [r.batch_id for r in final], metadata)
    specs = {t.name: t for t in op.outputs}
    try:
        tables = _commit_tables(attempt, specs, final, intent, since=versions)
    except ConcurrentWriterError:
        withdraw_intent(attempt)  # never roll forward a result another writer superseded
        raise
    except MissingDataFileError as exc:
        discard(attempt)  # its receipts name the files gone: a rerun must compute anew
        raise MissingDataFileError(f"{exc} Run it again: it computes the day anew.") from None
    finish(attempt)
    return DayResult(
        day=d.day,
        tables=tables,
        batches=len(d.map_ids(op)),
        reused_batches=sum(
            1 for t in d.tasks for s in t.steps if s.operator.name == op.name and s.done
        ),
        input_rows=sum(r.input_rows for r in map_receipts),
        input_files=d.input_files,
        skipped_files=skipped,
        unknown_columns=unknown,
        source=source,
        workers=tuple(sorted({r.worker for r in receipts.values()})),
        nodes=tuple(sorted({r.node for r in receipts.values() if r.node})),
        audit=audit,
    )


def _commit_tables(
    attempt: Attempt,
    specs: Mapping[str, TableSpec],
    receipts: Sequence[BatchReceipt],
    intent: Intent,
    *,
    since: Mapping[str, int],
) -> dict[str, TableDay]:
    """Commit each table of the intent, in its order, one Delta transaction per table. Safe to
    call again after an interruption: tables already committed are left as they are. Another
    writer of the day is looked for in every table before the first commit, so a run that lost
    the race commits none of the operator's tables (only a commit between that look and a
    table's own commit gets past it, and the error then names what was committed)."""
    lake, day = attempt.lake, attempt.day
    opened = {
        t: delta_commit.prepare(lake, specs[t], day, since_version=since.get(t))
        for t in intent["tables"]
    }
    done: dict[str, TableDay] = {}
    for table in intent["tables"]:
        spec = specs[table]
        files = [f for r in receipts for f in r.tables(table)] or [empty_file(attempt, spec)]
        try:
            version = delta_commit.commit_day(
                lake,
                spec,
                day,
                files,
                commit_info(intent["metadata"]),
                since_version=since.get(table),
                table=opened[table],
            )
        except ConcurrentWriterError as exc:
            if not done:
                raise
            raise ConcurrentWriterError(
                f"{exc} Its {', '.join(done)} dt={day} were committed just before: compute the "
                "day again once the other run ends, so the tables agree"
            ) from None
        except MissingDataFileError as exc:
            if not done:
                raise
            raise MissingDataFileError(
                f"{exc} Its {', '.join(done)} dt={day} were committed just before; the "
                "operator's other tables hold the day as they did."
            ) from None
        done[table] = TableDay(
            sum(f.rows for f in files), sum(f.size for f in files), len(files), version
        )
    return done
