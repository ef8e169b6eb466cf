"""decision_steps: how a selection funnel narrowed its items, per session and step.

Read from `decision` events, whose payloads validation has already proven to be JSON objects.
"""

import pyarrow as pa

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import OpContext, Operator
from trajectory_assets.operators.events import CLEAN, VALIDATION_COLUMNS, payload

DECISION_STEPS = f"""
WITH decisions AS (
    SELECT dt, app_id, session_id, ts,
        {payload("step")} AS step, {payload("item_id")} AS item_id,
        {payload("outcome")} AS outcome
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
    version = "1"
    outputs = ("decision_steps",)
    inputs = ("raw_events",)
    requires = "session"
    raw_columns = VALIDATION_COLUMNS

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(DECISION_STEPS)
