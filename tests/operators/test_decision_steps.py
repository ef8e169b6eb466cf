"""DecisionSteps: one row per (session, step) from `decision` events."""

import json

import pyarrow as pa
import pytest

from tests.operators.builders import (
    APP,
    DAY,
    assert_row,
    at,
    event,
    events_table,
    one,
    rows,
    run,
)
from trajectory_assets.operators import DecisionSteps
from trajectory_assets.operators.decision_steps import DECISION_STEPS


def decision(ms: float, step: str | None, item: str | None, outcome: str | None, **kw) -> dict:
    body = {"step": step, "item_id": item, "outcome": outcome, "score": 0.5, "reason": "r"}
    return event("decision", ms, payload=json.dumps(body), **kw)


def steps(events: list[dict]) -> pa.Table:
    out = run(DecisionSteps(), events=events_table(events))
    assert set(out) == {"decision_steps"}
    return out["decision_steps"]


def by_step(events: list[dict]) -> dict[str | None, dict]:
    return {r["step"]: r for r in rows(steps(events))}


def test_exact_values():
    events = [
        event("session_start", 0),
        decision(10, "filter", "a", "kept"),
        decision(20, "filter", "b", "eliminated"),
        decision(30, "filter", "c", "scored"),
        decision(40, "filter", "a", "scored"),
        decision(50, "filter", "d", "eliminated"),
        event("session_end", 60, payload='{"status": "success"}'),
    ]
    table = steps(events)
    assert table.schema == DECISION_STEPS
    assert_row(
        one(table),
        {
            "dt": DAY,
            "app_id": APP,
            "session_id": "s1",
            "step": "filter",
            "n_items": 4,
            "kept": 1,
            "eliminated": 2,
            "scored": 2,
            "elimination_ratio": 2 / 5,
            "first_ts": at(10),
            "last_ts": at(50),
        },
    )


def test_one_row_per_session_and_step_sorted():
    events = [
        decision(0, "rank", "x", "scored", session_id="s2"),
        decision(5, "filter", "x", "kept", session_id="s2"),
        decision(1, "filter", "x", "eliminated", session_id="s1"),
        decision(2, "rank", "y", "kept", app_id="app0", session_id="s9"),
    ]
    got = [(r["app_id"], r["session_id"], r["step"]) for r in rows(steps(events))]
    assert got == [
        ("app0", "s9", "rank"),
        (APP, "s1", "filter"),
        (APP, "s2", "filter"),
        (APP, "s2", "rank"),
    ]


def test_no_known_outcomes_gives_null_ratio():
    events = [decision(0, "s", "a", "deferred"), decision(1, "s", "b", None)]
    r = one(steps(events))
    assert (r["n_items"], r["kept"], r["eliminated"], r["scored"]) == (2, 0, 0, 0)
    assert r["elimination_ratio"] is None


def test_an_outcome_in_another_case_or_with_spaces_counts():
    """`Kept` and `eliminated ` counted as no outcome: a step of one kept and two eliminated
    items read 1 of 1 eliminated, and warned."""
    events = [
        decision(0, "s", "a", "Kept"),
        decision(1, "s", "b", "eliminated "),
        decision(2, "s", "c", "ELIMINATED"),
        decision(3, "s", "d", "\tscored\n"),  # as str.strip, the logger's, trims it
    ]
    r = one(steps(events))
    assert (r["kept"], r["eliminated"], r["scored"]) == (1, 2, 1)
    assert r["elimination_ratio"] == pytest.approx(2 / 4)


def test_unknown_outcomes_do_not_enter_the_ratio():
    events = [
        decision(0, "s", "a", "eliminated"),
        decision(1, "s", "b", "kept"),
        decision(2, "s", "c", "maybe"),
    ]
    assert one(steps(events))["elimination_ratio"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("outcomes", "ratio"),
    [(["eliminated"], 1.0), (["kept"], 0.0), (["scored", "scored", "eliminated"], 1 / 3)],
)
def test_elimination_ratio(outcomes, ratio):
    events = [decision(i, "s", f"i{i}", o) for i, o in enumerate(outcomes)]
    assert one(steps(events))["elimination_ratio"] == pytest.approx(ratio)


def test_n_items_is_distinct_and_ignores_null_items():
    events = [
        decision(0, "s", "a", "kept"),
        decision(1, "s", "a", "kept"),
        decision(2, "s", None, "eliminated"),
        decision(3, "s", "b", "scored"),
    ]
    r = one(steps(events))
    assert r["n_items"] == 2
    assert (r["kept"], r["eliminated"], r["scored"]) == (2, 1, 1)


def test_same_item_in_two_steps_counts_in_both():
    events = [decision(0, "s1", "a", "kept"), decision(1, "s2", "a", "eliminated")]
    got = by_step(events)
    assert (got["s1"]["n_items"], got["s2"]["n_items"]) == (1, 1)
    assert (got["s1"]["elimination_ratio"], got["s2"]["elimination_ratio"]) == (0.0, 1.0)


def test_first_and_last_ts_per_step_regardless_of_file_order():
    events = [
        decision(300, "s", "a", "kept"),
        decision(100, "s", "b", "kept"),
        decision(200, "s", "c", "kept"),
        decision(50, "other", "c", "kept"),
    ]
    got = by_step(events)
    assert (got["s"]["first_ts"], got["s"]["last_ts"]) == (at(100), at(300))
    assert (got["other"]["first_ts"], got["other"]["last_ts"]) == (at(50), at(50))


def test_duplicate_decisions_count_once():
    d = decision(10, "s", "a", "eliminated")
    r = one(steps([d, dict(d), dict(d, ts=at(99))]))
    assert (r["eliminated"], r["n_items"]) == (1, 1)
    assert r["last_ts"] == at(10)


def test_other_event_types_and_rejected_decisions_are_ignored():
    events = [
        decision(0, "s", "a", "kept"),
        event("agent_message", 1, payload='{"step": "s", "item_id": "b", "outcome": "kept"}'),
        event("decision", 2, payload="{not json"),
        decision(3, "s", "c", "eliminated", latency_ms=-1.0),
        decision(4, "s", "d", "eliminated", session_id=""),
    ]
    r = one(steps(events))
    assert (r["n_items"], r["kept"], r["eliminated"], r["scored"]) == (1, 1, 0, 0)


def test_no_decisions_gives_no_rows():
    assert steps([event("session_start", 0), event("user_message", 1)]).num_rows == 0


def test_numeric_step_is_text():
    r = one(steps([event("decision", 0, payload='{"step": 2, "item_id": 7, "outcome": "kept"}')]))
    assert (r["step"], r["n_items"], r["kept"]) == ("2", 1, 1)
