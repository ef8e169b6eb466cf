"""decision_steps: how a selection funnel narrowed its items, per session and step.

Read from `decision` events, whose payloads validation has already proven to be JSON objects.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.events import CLEAN, VALIDATION_COLUMNS, payload
from trajectory_assets.schema import APP_ID, SESSION_DAY, SESSION_ID, TS, TableSpec, column

DECISION_STEPS = pa.schema(
    [
        SESSION_DAY,
        APP_ID,
        SESSION_ID,
        column(
            "step",
            pa.string(),
            "Payload `step` of the session's `decision` events (null when absent).",
        ),
        column("n_items", pa.int64(), "Distinct non-null payload `item_id`s in the step."),
        column(
            "kept",
            pa.int64(),
            "The step's decisions with outcome `kept` (case and surrounding spaces aside: `Kept` "
            "too; an outcome of no other name counts in `n_items` only).",
        ),
        column(
            "eliminated",
            pa.int64(),
            "The step's decisions with outcome `eliminated` (case and spaces aside, as `kept`).",
        ),
        column(
            "scored",
            pa.int64(),
            "The step's decisions with outcome `scored` (case and spaces aside, as `kept`).",
        ),
        column(
            "elimination_ratio",
            pa.float64(),
            "`eliminated / (kept + eliminated + scored)` (null when that is 0).",
        ),
        column("first_ts", TS, "`ts` of the step's first decision."),
        column("last_ts", TS, "`ts` of the step's last decision."),
    ]
)


DECISION_STEPS_TABLE = TableSpec(
    "decision_steps",
    DECISION_STEPS,
    partition_by=("app_id",),
    keys=("app_id", "session_id", "step"),
    description="One row per (session, decision step): items kept, eliminated, scored.",
)


WHITESPACE = "' ' || chr(9) || chr(10) || chr(13)"
"""What an outcome is trimmed of, as Python's `str.strip` (the logger's) trims it: DuckDB's
`trim` alone leaves tabs and line ends."""

STEPS_SQL = f"""
WITH decisions AS (
    SELECT dt, app_id, session_id, ts,
        {payload("step")} AS step, {payload("item_id")} AS item_id,
        lower(trim({payload("outcome")}, {WHITESPACE})) AS outcome
    FROM ({CLEAN}) WHERE event_type = 'decision'
)
SELECT dt, app_id, session_id, step,
    count(DISTINCT item_id) AS n_items,
    count(*) FILTER (WHERE outcome = 'kept') AS kept,
    count(*) FILTER (WHERE outcome = 'eliminated') AS eliminated,
    count(*) FILTER (WHERE outcome = 'scored') AS scored,
    count(*) FILTER (WHERE outcome = 'eliminated')
        / nullif(count(*) FILTER (WHERE outcome IN ('kept', 'eliminated', 'scored')), 0)
        AS elimination_ratio,
    min(ts) AS first_ts, max(ts) AS last_ts
FROM decisions GROUP BY dt, app_id, session_id, step
"""


class DecisionSteps(Operator):
    name = "decision_steps"
    version = "6"  # 3: a negative turn_index is rejected; 4: `Kept`, ` kept ` count as kept;
    # 5: tabs and line ends trimmed too; 6: strict JSON payloads
    outputs = (DECISION_STEPS_TABLE,)
    inputs = ("raw_events",)
    raw_columns = VALIDATION_COLUMNS

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(STEPS_SQL)
