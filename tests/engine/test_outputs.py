"""What an operator returns is checked where it is produced: each mistake is named with the
operator and output, before anything is staged or committed."""

import datetime as dt
import re

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


def test_a_good_output_is_cast_within_kinds_ordered_and_sorted_by_its_keys() -> None:
    returned = pa.table(
        {
            "n": pa.array([2, 1], pa.decimal128(38, 0)),  # DuckDB's SUM
            "session_id": pa.array(["s2", "s1"], pa.large_string()),  # Polars
            "app_id": pa.array(["a", "a"]).dictionary_encode(),
            "dt": pa.array([DAY, DAY], pa.string_view()),
        }
    )
    out = normalise(PerSession(), returned, DAY)
    assert out["per_session"].schema == SPEC.schema
    one_null = normalise(PerSession(), rows(session_id=[None, "s1"]), DAY)["per_session"]
    assert one_null["session_id"].to_pylist() == ["s1", None]  # a null key once is a key
    assert out["per_session"]["session_id"].to_pylist() == ["s1", "s2"]
    assert out["per_session"]["n"].to_pylist() == [1, 2]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"other": rows()}, r"returned outputs \['other'\], declared \['per_session'\]"),
        ([1, 2], "returned list, not Arrow"),
        (rows().drop_columns(["n"]), r"lacks columns \['n'\]$"),
        (
            rows(scratch=[0, 0]),
            r"has columns \['scratch'\] its schema does not declare; declare them in the TableSpec",
        ),
        (
            rows(m=[2, 1]).drop_columns(["n"]),
            r"lacks columns \['n'\] and has columns \['m'\] its schema does not declare",
        ),
        (
            pa.table(
                [[DAY] * 2, ["a"] * 2, ["s"] * 2, [1, 2], [1, 2]], names=[*SPEC.schema.names, "n"]
            ),
            r"has columns \['n'\] more than once",
        ),
        (
            rows(n=["2", "1"]),
            r"column 'n' is text \(string\), declared int64: convert it in the operator",
        ),
        (rows(session_id=[2, 1]), r"column 'session_id' is int64, declared text \(string\)"),
        (  # Polars' text, by the name of its kind
            rows(n=pa.array(["2", "1"], pa.string_view())),
            r"column 'n' is text \(string_view\), declared int64",
        ),
        (rows(n=[True, False]), "column 'n' is bool, declared int64"),
        (rows(n=[1.5, 2.0]), r"does not fit its schema \(column 'n'\): .*truncated"),
        (rows(n=[None, 1]), r"does not fit its schema \(column 'n'\): .*non-nullable"),
        (
            rows(n=pa.array([2**64 - 1, 1], pa.uint64())),  # a sum past int64
            r"does not fit its schema \(column 'n'\): Integer value 18446744073709551615 not",
        ),
        (rows(app_id=["", ""]), "has an empty 'app_id', a partition column: a folder cannot"),
        (
            rows(app_id=["__HIVE_DEFAULT_PARTITION__"] * 2),
            "app_id __HIVE_DEFAULT_PARTITION__ is the folder name of a null app_id",
        ),
        (
            rows(app_id=["é" * 100] * 2),
            r"output 'per_session': partition column app_id too long to name a folder \(607 bytes ",
        ),
        (rows(dt=[DAY, "2026-11-17"]), r"1 row\(s\) whose dt is not the day .*2026-11-17"),
        (rows(dt=[None, DAY]), r"1 row\(s\) whose dt is not the day being computed, 2026-11-18"),
        (
            rows(session_id=["same", "same"]),
            r"output 'per_session' has 1 row\(s\) repeating the key of another row, e\.g\. "
            r"\{'app_id': 'a', 'session_id': 'same'\}: rows must be unique on the table's keys",
        ),
        (rows(session_id=[None, None]), r"has 1 row\(s\) repeating the key .*'session_id': None"),
    ],
    ids=[
        "outputs",
        "not-arrow",
        "missing",
        "extra",
        "misspelt",
        "twice",
        "text-for-number",
        "number-for-text",
        "polars-text-for-number",
        "bool-for-number",
        "fraction",
        "null",
        "overflow",
        "empty-partition",
        "null-folder-name",
        "long-partition",
        "other-day",
        "null-day",
        "repeated-key",
        "null-keys",
    ],
)
def test_each_mistake_is_named_with_the_operator_and_output(result: object, message: str) -> None:
    with pytest.raises(OutputError, match=message) as raised:
        normalise(PerSession(), result, DAY)
    assert "operator per_session" in str(raised.value)


def test_a_frame_that_exports_arrow_is_taken_and_a_two_phase_mistake_says_what_to_return() -> None:
    """A Polars DataFrame (or a DuckDB result, a pandas frame) was refused, to be converted by
    hand: the table is the same as from its Arrow."""
    import duckdb
    import polars as pl

    expected = normalise(PerSession(), rows(), DAY)
    frame = pl.from_arrow(rows())
    assert normalise(PerSession(), frame, DAY) == expected
    assert normalise(PerSession(), {"per_session": frame}, DAY) == expected
    assert normalise(PerSession(), duckdb.sql("SELECT * FROM frame"), DAY) == expected
    assert normalise(PerSession(), rows().to_pandas(), DAY) == expected
    import pandas as pd

    halves = [rows().slice(0, 1).to_pandas(), rows().slice(1).to_pandas()]
    assert normalise(PerSession(), pd.concat(halves), DAY) == expected  # its index is no column
    with pytest.raises(OutputError, match=r"output 'per_session' is Series, not a table: "):
        normalise(PerSession(), pl.Series("n", [1]), DAY)
    with pytest.raises(OutputError, match=r"returned set, not Arrow: return a pyarrow Table, or"):
        normalise(PerSession(), {1, 2}, DAY)

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


NESTED = pa.schema(
    [
        ("dt", pa.string()),
        ("app_id", pa.string()),
        ("session_id", pa.string()),
        ("artifacts", pa.list_(pa.struct([("kind", pa.string()), ("uri", pa.string())]))),
        ("day", pa.date32()),
        ("sizes", pa.map_(pa.string(), pa.int64())),
    ]
)


class Nested(PerSession):
    outputs = (ta.TableSpec("per_session", NESTED, ("app_id",), SPEC.keys, "One per session."),)


def nested(**columns: pa.Array) -> pa.Table:
    base = {
        "dt": pa.array([DAY]),
        "app_id": pa.array(["a"]),
        "session_id": pa.array(["s"]),
        "artifacts": pa.array([[{"kind": "stdout", "uri": "s3://x"}]]),
        "day": pa.array([None], pa.null()),  # DuckDB's NULL AS day
        "sizes": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int32())),  # DuckDB's MAP
    }
    return pa.table({**base, **columns})


def test_nested_columns_are_checked_to_their_fields() -> None:
    out = normalise(Nested(), nested(), DAY)["per_session"]
    assert out.schema == NESTED and out["sizes"].to_pylist() == [[("a", 1)]]
    cases = {
        "'artifacts[]' is struct<type: string, url: string>, declared struct<kind": nested(
            artifacts=pa.array([[{"type": "stdout", "url": "s3://x"}]])
        ),
        "'artifacts[].uri' is int64, declared text (string)": nested(
            artifacts=pa.array([[{"kind": "stdout", "uri": 7}]])
        ),
        "'day' is timestamp[us], declared date32": nested(
            day=pa.array([dt.datetime(2026, 11, 18, 13)], pa.timestamp("us"))
        ),
        "'sizes.value' is text (string), declared int64": nested(
            sizes=pa.array([[("a", "1")]], pa.map_(pa.string(), pa.string()))
        ),
    }
    for message, returned in cases.items():
        with pytest.raises(OutputError, match=re.escape(message)):
            normalise(Nested(), returned, DAY)
