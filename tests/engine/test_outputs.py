"""What an operator returns is checked where it is produced: each mistake is named with the
operator and output, before anything is staged or committed."""

import pyarrow as pa
import pytest

import trajectory_assets as ta
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.errors import OutputError

DAY = "2026-11-18"
SPEC = ta.TableSpec(
    "per_session",
    pa.schema(
        [
            ta.column("dt", pa.string(), "The day."),
            ta.column("app_id", pa.string(), "The app."),
            ta.column("session_id", pa.string(), "The session."),
            pa.field("n", pa.int64(), nullable=False),
        ]
    ),
    partition_by=("app_id",),
    keys=("app_id", "session_id"),
    description="One row per session.",
)


class PerSession(ta.Operator):
    name = "per_session"
    version = "1"
    inputs = ("sessions",)
    requires = None
    outputs = (SPEC,)

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        raise NotImplementedError  # normalise is given the results directly


def rows(**columns: list[object]) -> pa.Table:
    base: dict[str, list[object]] = {
        "dt": [DAY, DAY],
        "app_id": ["a", "a"],
        "session_id": ["s2", "s1"],
        "n": [2, 1],
    }
    return pa.table({**base, **columns})


def test_a_good_output_is_cast_ordered_and_sorted_by_its_keys() -> None:
    extra = rows().append_column("scratch", pa.array([0, 0]))  # extra columns are dropped
    out = normalise(PerSession(), extra.select(["n", "session_id", "app_id", "dt", "scratch"]), DAY)
    assert out["per_session"].schema == SPEC.schema
    assert out["per_session"]["session_id"].to_pylist() == ["s1", "s2"]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"other": rows()}, r"returned outputs \['other'\], declared \['per_session'\]"),
        ([1, 2], "returned list, not Arrow"),
        (rows().drop_columns(["n"]), r"lacks columns \['n'\]"),
        (rows(n=["two", "one"]), "does not fit its schema"),
        (rows(n=[None, 1]), "does not fit its schema: .*non-nullable"),
        (rows(dt=[DAY, "2026-11-17"]), r"1 row\(s\) whose dt is not the day .*2026-11-17"),
        (rows(dt=[None, DAY]), r"1 row\(s\) whose dt is not the day being computed, 2026-11-18"),
    ],
    ids=["outputs", "not-arrow", "missing", "type", "null", "other-day", "null-day"],
)
def test_each_mistake_is_named_with_the_operator_and_output(result: object, message: str) -> None:
    with pytest.raises(OutputError, match=message) as raised:
        normalise(PerSession(), result, DAY)  # type: ignore[arg-type]
    assert "operator per_session" in str(raised.value)


def test_a_polars_frame_and_a_two_phase_mistake_say_what_to_return() -> None:
    import polars as pl

    with pytest.raises(OutputError, match=r"returned DataFrame, not Arrow: .*\.to_arrow\(\)"):
        normalise(PerSession(), pl.from_arrow(rows()), DAY)  # type: ignore[arg-type]
    with pytest.raises(OutputError, match=r"output 'per_session' is DataFrame, not Arrow"):
        normalise(PerSession(), {"per_session": pl.from_arrow(rows())}, DAY)  # type: ignore[dict-item]

    class TwoPhase(PerSession):
        partial_schema = pa.schema([("app_id", pa.string()), ("n", pa.int64())])

    with pytest.raises(
        OutputError, match=r"two-phase: its transform returns one table of partials"
    ):
        normalise(TwoPhase(), {"per_session": rows()}, DAY, partial=True)
    with pytest.raises(OutputError) as partials:
        normalise(TwoPhase(), rows().drop_columns(["n"]), DAY, partial=True)
    assert "partials (transform's table, shaped by partial_schema) lacks columns ['n']" in str(
        partials.value
    )
