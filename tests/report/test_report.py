"""The daily report from hand-built tables: contents, escaping, empty days, a valid PNG."""

import io
from decimal import Decimal
from typing import get_args, get_type_hints

import pyarrow as pa
import pytest

from tests.operators.builders import (
    DAY,
    attempt,
    event,
    llm,
    run_two_phase,
    sessionize,
    sessions,
    sessions_of,
    tool,
)
from trajectory_assets.operators import EvalRuns, ModelComparisons, ToolStats
from trajectory_assets.operators.session_tables import SESSIONS
from trajectory_assets.report import render_daily_report
from trajectory_assets.report.chart import AppBar, cost_panel, label, top_apps
from trajectory_assets.report.data import AppRow
from trajectory_assets.report.intervals import wilson_interval


def _png_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_an_empty_day_renders():
    report = render_daily_report(DAY, {})
    assert _png_size(report.png) == (1300, 900)
    assert "No sessions this day." in report.html
    assert "No loop detected this day." in report.html
    assert report.summary == {
        "sessions": 0,
        "cost_usd": None,
        "llm_calls": 0,
        "llm_calls_unpriced": 0,
        "loops_detected": 0,
        "ended_on_error": 0,
        "failing_tools": 0,
        "rejected_rows": 0,
        "eval_runs": 0,
    }
    assert "No raw row was rejected this day." in report.html


def _day() -> dict[str, pa.Table]:
    events = [
        llm(0, session_id="a", model="gpt-4o", input_tokens=400_000, latency_ms=100.0),
        llm(1, session_id="a", model="<b>odd</b>", latency_ms=300.0),
        *[tool(2 + i, session_id="a", tool_name="$grep$", error_type="E") for i in range(3)],
        event("session_start", 0, app_id="<script>alert(1)</script>", session_id="x"),
    ]
    out = sessionize(events)
    out["tool_stats"] = run_two_phase(ToolStats(), "tool_calls", out["tool_calls"])
    evals = sessions(
        [
            attempt("t1", True, model="m1"),
            attempt("t1", False, model="m2"),
            attempt("t2", True, model="m1"),
            attempt("t2", True, model="m2"),
        ]
    ).cast(SESSIONS)
    out["eval_runs"] = run_two_phase(EvalRuns(), "sessions", evals)
    out["model_comparisons"] = run_two_phase(ModelComparisons(), "sessions", evals)
    return out


def test_report_contents_and_escaping():
    report = render_daily_report(DAY, _day())
    page = report.html
    assert _png_size(report.png) == (1300, 900)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;odd&lt;/b&gt;" in page
    assert "$grep$" in page  # text in HTML; escaped for matplotlib's mathtext in the chart
    assert "$1.0000" in page  # 400k gpt-4o input tokens
    assert report.summary["sessions"] == 2
    assert report.summary["cost_usd"] == pytest.approx(1.0)
    assert report.summary["llm_calls_unpriced"] == 1
    assert report.summary["loops_detected"] == 1  # three identical $grep$ calls
    assert report.summary["failing_tools"] == 1
    assert report.summary["eval_runs"] == 2
    assert "m1" in page and "+50.0 pp" in page  # m1 - m2 on t1, t2: d = (1, 0); pass@1 in %


def test_the_comparisons_say_which_days_they_pool() -> None:
    """A 7-day window's rows read as the day's alone."""
    evals = sessions([attempt("t1", True, model="m1"), attempt("t1", False, model="m2")])
    for window, said in [(1, f"pools the eval attempts of {DAY}."), (7, "the 7 days ending")]:
        compared = run_two_phase(ModelComparisons(window), "sessions", evals.cast(SESSIONS))
        page = render_daily_report(DAY, {"model_comparisons": compared}).html
        assert said in page
    before = compared.set_column(
        compared.schema.get_field_index("window_days"),
        "window_days",
        pa.nulls(compared.num_rows, pa.int64()),
    )  # a day written before the column
    assert "pools the eval" not in render_daily_report(DAY, {"model_comparisons": before}).html


def test_wilson_interval_of_a_run():
    from scipy import stats

    report = render_daily_report(DAY, _day())
    ci = stats.binomtest(1, 2).proportion_ci(method="wilson")
    assert f"{ci.low:.1%}" in report.html and f"{ci.high:.1%}" in report.html


@pytest.mark.parametrize("attempts", [1, 2, 3, 7, 50, 1000])
def test_wilson_interval_is_scipys(attempts: int) -> None:
    from scipy import stats

    for passed in range(attempts + 1):
        ci = stats.binomtest(passed, attempts).proportion_ci(method="wilson")
        low, high = wilson_interval(passed, attempts)
        assert low == pytest.approx(ci.low, abs=1e-12)
        assert high == pytest.approx(ci.high, abs=1e-12)


def test_runs_that_pass_all_or_none_of_their_tasks_chart() -> None:
    """The interval of 0 of 10 began at 2.8e-17, and that of 15 of 15 ended at
    0.9999999999999999: the chart's error bar was negative and the day's report failed."""
    for attempts in range(1, 1001):
        assert (
            wilson_interval(0, attempts)[0] == 0.0 and wilson_interval(attempts, attempts)[1] == 1.0
        )
    evals = sessions(
        [attempt(f"t{i}", False, model="none") for i in range(10)]
        + [attempt(f"t{i}", True, model="all") for i in range(15)]
    ).cast(SESSIONS)
    report = render_daily_report(DAY, {"eval_runs": run_two_phase(EvalRuns(), "sessions", evals)})
    assert report.summary["eval_runs"] == 2 and _png_size(report.png) == (1300, 900)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1234.5, "$1,234.5000"),
        (-0.0107, "-$0.0107"),
        (0.0, "$0.0000"),
        (0.00002, "&lt;$0.0001"),  # read "$0.0000", as free calls do; HTML, escaped
        (-0.00002, "-&lt;$0.0001"),
    ],
)
def test_money_is_written_with_its_sign_first(value: float, shown: str) -> None:
    """A cost difference (model comparisons' cost A - B) can be negative."""
    from trajectory_assets.report.page import _fmt

    assert _fmt(value, "usd") == shown


def _app(i: int, cost_usd: float | None) -> AppRow:
    none = Decimal(0)
    return AppRow(
        app_id=f"tenant-{i:03d}",
        sessions=i,
        cost_usd=cost_usd,
        cost_per_session=cost_usd,
        llm_calls_unpriced=none,
        input_tokens=none,
        output_tokens=none,
        error_sessions=0,
        loop_sessions=0,
    )


def test_hundreds_of_apps_chart_as_the_top_ones_and_the_rest():
    """500 tenants' bars merged into a black smear, and long ids squeezed every panel."""
    apps = [_app(i, 0.5) for i in range(500)]
    shown = top_apps(apps)
    assert [a["app_id"] for a in shown[:-1]] == [f"tenant-{i:03d}" for i in range(489, 500)]
    assert shown[-1] == {
        "app_id": "489 other apps",
        "sessions": sum(range(489)),
        "cost_usd": pytest.approx(489 * 0.5),
        "llm_calls_unpriced": 0,
    }
    assert top_apps(apps[:12]) == apps[:12]
    unpriced = [_app(i, None) for i in range(500)]  # a bar of none priced drew $0
    assert top_apps(unpriced)[-1]["cost_usd"] is None
    assert label("x" * 120) == "x" * 15 + "…" + "x" * 16 and label("$5") == r"\$5"
    runs = [label(f"humaneval / claude-sonnet-4 / run-2026112{i}", 32) for i in range(3)]
    assert len(set(runs)) == 3  # cut at the end, the three read the same


def test_each_app_has_its_bar_and_its_note_beside_it_even_when_cut_alike() -> None:
    """Bars placed by label put two ids cut to the same text on one bar, and every later note
    one bar down."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    def bar(app_id: str, sessions: int) -> AppBar:
        return AppBar(app_id=app_id, sessions=sessions, cost_usd=1.0, llm_calls_unpriced=Decimal(0))

    apps = [bar("x" * 20 + "a" + "x" * 20, 2), bar("x" * 20 + "b" + "x" * 20, 3), bar("c", 4)]
    assert label(apps[0]["app_id"]) == label(apps[1]["app_id"])  # the middle goes
    ax = Figure().subplots()
    cost_panel(ax, apps)
    bars = [b.get_y() + b.get_height() / 2 for b in ax.patches if isinstance(b, Rectangle)]
    assert len(bars) == len(apps) == len(set(bars))
    notes = [(text.get_text(), text.get_position()[1]) for text in ax.texts]
    assert notes == [(f" {a['sessions']} sessions", y) for a, y in zip(apps, bars, strict=True)]


def test_every_failing_tool_is_counted_and_the_page_says_which_it_shows():
    """13 tools failed: the headline said 10 (counted after the page's cut to ten), and the
    page did not say it left three out."""
    from trajectory_assets.operators import TIER_B

    schema = TIER_B["tool_stats"].schema
    blank = dict.fromkeys(schema.names)
    rows = [
        {**blank, "dt": DAY, "app_id": "a", "tool_name": f"t{i:02d}", "n_calls": 20}
        | {"n_errors": i + 1, "failure_rate": (i + 1) / 20, "n_sessions": 1}
        for i in range(13)
    ]
    report = render_daily_report(DAY, {"tool_stats": pa.Table.from_pylist(rows, schema=schema)})
    assert report.summary["failing_tools"] == 13
    assert "The first 10 of 13 tools with a failed call." in report.html
    assert "<td>t12</td>" in report.html and "<td>t02</td>" not in report.html  # most first


def test_eval_costs_that_leave_calls_out_say_so():
    """An eval run's cost of its priced calls alone read as its whole cost: a model without a
    price looked the cheapest per passed task."""
    report = render_daily_report(DAY, _day())
    evals = report.html.split("<h2>Eval pass rates")[1].split("<h2>")[0]
    assert "<th>unpriced llm calls</th>" in evals
    assert "it cost more than shown" in evals


def test_token_sums_read_with_separators():
    """DuckDB sums integers as decimals: 4506729 had no thousands separators."""
    from decimal import Decimal

    from trajectory_assets.report.page import _fmt

    assert _fmt(Decimal(4506729)) == "4,506,729"


def test_cost_per_session_leaves_out_sessions_without_a_call():
    """A session without llm calls costs 0: counted, it halved an app's cost per session."""
    day = sessions_of(
        [
            event("session_start", 0, session_id="quiet"),
            llm(10, session_id="busy", model="gpt-4o", input_tokens=1000, output_tokens=100),
        ]
    )
    (app,) = render_daily_report(DAY, {"sessions": day}).html.split("<h2>Sessions and cost")[1:]
    busy = day.filter(pa.compute.equal(day["session_id"], "busy"))["cost_usd"][0].as_py()
    assert busy > 0 and f"${busy:,.4f}</td><td>${busy:,.4f}" in app  # cost, cost per session


def test_a_day_without_a_priced_call_costs_unknown_not_zero():
    """Every call of the day without a price, and a session without calls (cost 0): the
    headline, the app's row and the metadata said $0.0000 where the tables sum to null."""
    day = sessions_of(
        [
            event("session_start", 0, session_id="quiet"),
            llm(10, session_id="busy", model="no-such-model", input_tokens=1000),
        ]
    )
    report = render_daily_report(DAY, {"sessions": day})
    assert report.summary["cost_usd"] is None
    headline, app = report.html.split("<h2>Sessions and cost")
    assert "$0.0000" not in headline and "$0.0000" not in app.split("<h2>")[0]


def test_each_query_returns_its_row_type():
    """`gather_data` casts each query's rows to its TypedDict: a column renamed or retyped in
    the SQL would pass mypy and fail only when a page is drawn."""
    from trajectory_assets.batch import Batch
    from trajectory_assets.report import data

    python = {pa.int64(): int, pa.int32(): int, pa.float64(): float, pa.string(): str}
    queries = [
        (data.TOTALS, data.Totals),
        (data.BY_APP, data.AppRow),
        (data.BY_MODEL, data.ModelRow),
        (data.TOOLS, data.ToolRow),
        (data.EVALS, data.EvalRunRow),
        (data.COMPARISONS, data.ComparisonRow),
        (data.LOOPS, data.LoopRow),
        (data.ENDED_ON_ERROR, data.EndedRow),
    ]
    batch = Batch({name: data._table(name, {}) for name in data.REPORT_TABLES})
    try:
        for query, row in queries:
            schema, hints = batch.sql(query).schema, get_type_hints(row)
            assert schema.names == list(hints), row.__name__
            for f in schema:
                kind = Decimal if pa.types.is_decimal(f.type) else python[f.type]
                assert hints[f.name] is kind or kind in get_args(hints[f.name]), f.name
    finally:
        batch.close()
    assert list(get_type_hints(data.EvalRow))[-2:] == ["ci_low", "ci_high"]


def test_one_model_spelled_several_ways_is_one_row():
    """A team's calls named one model three ways (`claude-sonnet-4-5`,
    `anthropic/claude-sonnet-4-5`, `Claude-Sonnet-4-5 `): the latency table split it in three,
    each with a third of its calls. Priced alike, they are one row named by the most frequent
    spelling; unpriced names are joined case and spaces aside, and two providers' prices stay
    apart."""
    from trajectory_assets.report.data import gather_data

    names = ["claude-sonnet-4-5"] * 3 + ["anthropic/claude-sonnet-4-5", "Claude-Sonnet-4-5 "]
    names += ["My-Model", "my-model ", "my-model", "my-model", "azure/gpt-4o", "gpt-4o"]
    names += ["gpt-4o-2024-08-06", "gpt-4o-2024-11-20", " "]  # snapshots priced alike; none
    events = [
        llm(i, session_id="s", model=name, input_tokens=10, latency_ms=100.0 * (i + 1))
        for i, name in enumerate(names)
    ]
    events.append(llm(20, session_id="s", model="claude-sonnet-4-5", error_type="Overloaded"))
    failed = "vertex_ai/claude-sonnet-4-5"  # failed, unpriced, spelled as no priced call is
    events.append(llm(21, session_id="s", model=failed, error_type="Overloaded"))
    unknown = "models/claude-sonnet-4-5"  # with tokens, unpriced: a name no price knows
    events.append(llm(22, session_id="s", model=unknown, input_tokens=10))
    events.append(llm(23, session_id="s", model=unknown, error_type="Overloaded"))  # its too
    rows = {r["model"]: r for r in gather_data(sessionize(events)).by_model}
    assert set(rows) == {
        *("claude-sonnet-4-5", "my-model", "azure/gpt-4o", "gpt-4o", "unknown"),
        *("gpt-4o-2024-08-06", "gpt-4o-2024-11-20", unknown),
    }
    assert rows[unknown]["unpriced"] == 2  # its own row: a prices.yaml entry must name it
    claude = rows["claude-sonnet-4-5"]
    assert claude["also_named"] == (
        "Claude-Sonnet-4-5, anthropic/claude-sonnet-4-5, vertex_ai/claude-sonnet-4-5"
    )
    assert claude["calls"] == 7 and claude["unpriced"] == 2  # failed calls, no tokens: its row
    assert claude["latency_p50"] == 300.0  # the five timed calls' median
    assert rows["my-model"]["calls"] == 4 and rows["my-model"]["unpriced"] == 4
    assert rows["my-model"]["also_named"] == "My-Model"  # names shown trimmed
    assert rows["gpt-4o"]["also_named"] == rows["azure/gpt-4o"]["also_named"] == ""


def test_spellings_priced_by_prices_yaml_are_one_row_too():
    """A negotiated price in prices.yaml covers every spelling of its model, but the report
    joined spellings by the database's provider alone: three rows for one model."""
    from trajectory_assets.report.data import gather_data

    names = ["claude-sonnet-4-5"] * 2 + ["Claude-Sonnet-4-5 ", "anthropic/claude-sonnet-4-5"]
    names += ["claude-sonnet-4-5-20250929"]  # a snapshot stays its own row, as in the database
    tables = sessionize(
        [llm(i, session_id="s", model=m, input_tokens=10) for i, m in enumerate(names)]
    )
    calls = tables["llm_calls"]
    for name, value in (("price_source", "prices.yaml: claude-sonnet-4-5"), ("cost_usd", 0.5)):
        index = calls.schema.get_field_index(name)
        column = pa.array([value] * calls.num_rows, calls.schema.field(name).type)
        calls = calls.set_column(index, calls.schema.field(name), column)
    tables["llm_calls"] = calls
    rows = {r["model"]: r for r in gather_data(tables).by_model}
    assert set(rows) == {"claude-sonnet-4-5", "claude-sonnet-4-5-20250929"}
    assert rows["claude-sonnet-4-5"]["calls"] == 4

    # two providers' entries (OpenAI's gpt-4o, Azure's) stay two rows, discounted or not
    sources = [
        "prices.yaml: gpt-4o",
        "prices.yaml: azure/gpt-4o from 2026-11-01",
        "prices.yaml: gpt-4o 20% off genai-prices 0.2.3: openai/gpt-4o",
        "prices.yaml: azure/gpt-4o 20% off genai-prices 0.2.3: azure/gpt-4o",
    ]
    two = sessionize(
        [
            llm(i, session_id="s", model=m, input_tokens=10)
            for i, m in enumerate(["gpt-4o", "azure/gpt-4o"] * 2)
        ]
    )["llm_calls"].sort_by("event_position")
    for name, values in (("price_source", sources), ("cost_usd", [0.5] * 4)):
        index = two.schema.get_field_index(name)
        two = two.set_column(
            index, two.schema.field(name), pa.array(values, two.schema.field(name).type)
        )
    rows = {r["model"]: r for r in gather_data(tables | {"llm_calls": two}).by_model}
    assert {m: r["calls"] for m, r in rows.items()} == {"gpt-4o": 2, "azure/gpt-4o": 2}


def test_many_spellings_end_in_an_ellipsis():
    from trajectory_assets.report.data import gather_data

    names = ["abc", "Abc", "aBc", "abC", "ABc", "ABC"]  # unpriced, alike but for case
    events = [llm(i, session_id="s", model=name) for i, name in enumerate(names)]
    (row,) = gather_data(sessionize(events)).by_model
    assert row["calls"] == 6 and row["also_named"].endswith(", …")
    assert row["also_named"].count(",") == 3


def test_sessions_that_ended_on_an_error_are_listed_costliest_first():
    """A developer had no way from the page to the session that failed: the loops alone were
    named."""
    events = [
        llm(0, session_id="cheap", model="gpt-4o", input_tokens=10, output_tokens=1),
        event("error", 5, session_id="cheap", error_type="Crash"),
        llm(0, session_id="dear", model="gpt-4o", input_tokens=100_000, output_tokens=1),
        tool(5, session_id="dear", tool_name="bash", error_type="ToolError", turn_index=0),
        event("error", 6, session_id="dear", error_type="GaveUp", turn_index=0),
        llm(0, session_id="recovered", model="gpt-4o", input_tokens=10),
        event("error", 5, session_id="recovered", error_type="Transient"),
        llm(9, session_id="recovered", model="gpt-4o", input_tokens=10),  # went on: not terminal
    ]
    report = render_daily_report(DAY, sessionize(events))
    assert report.summary["ended_on_error"] == 2
    section = report.html.split("<h2>Sessions that ended on an error")[1]
    assert section.index("<td>dear</td>") < section.index("<td>cheap</td>")
    assert "<td>GaveUp</td>" in section and "<td>ToolError</td>" not in section  # its last
    assert "recovered" not in section


def test_rejected_rows_are_counted_by_app_with_their_most_frequent_reason():
    """An on-call engineer saw a producer's rows rejected only in a check's warning line: the
    page said nothing of them."""
    from trajectory_assets.report.data import gather_data

    events = [llm(0, session_id="s", model="gpt-4o", input_tokens=10)]
    events += [llm(i, session_id="s", event_id=f"neg{i}", latency_ms=-1.0) for i in range(1, 4)]
    events[-1]["ttft_ms"] = float("nan")  # a row breaking two rules: each counted
    events.append(event("decision", 5, session_id="s", payload="not json"))
    tables = sessionize(events)
    rejected = tables["rejected_events"].to_pylist()  # two unreadable values, one rule
    extra = [
        {**rejected[0], "reason": f"input_tokens {v} cannot be read as int64"} for v in (1.5, 2.5)
    ]
    unread = "output_tokens 1.5 cannot be read as int64"  # rows of a folder of a null app
    extra += [{**rejected[0], "app_id": app, "reason": unread} for app in (None, " ")]
    tables["rejected_events"] = pa.Table.from_pylist(
        rejected + extra, schema=tables["rejected_events"].schema
    )
    rows = gather_data(tables).rejected
    assert rows == [
        {
            "app_id": "app1",
            "rejected_rows": 6,
            "reasons": 4,  # negative latency_ms, NaN ttft_ms, invalid JSON, unreadable tokens
            "top_reason": "negative latency_ms",
            "top_reason_rows": 3,
        },
        {
            "app_id": "(no app_id)",  # a null never joined: its rows were missing
            "rejected_rows": 2,
            "reasons": 1,
            "top_reason": "output_tokens cannot be read as int64",  # its column named
            "top_reason_rows": 2,
        },
    ]
    report = render_daily_report(DAY, tables)
    assert report.summary["rejected_rows"] == 8
    assert "<td>negative latency_ms</td>" in report.html


def test_a_failed_call_joins_no_provider_when_its_name_is_priced_by_two():
    """An unpriced `openai/gpt-4o` joined Azure's row: `gpt-4o` was priced by both."""
    from trajectory_assets.report.data import gather_data

    events = [
        llm(0, session_id="s", model="azure/gpt-4o", input_tokens=10),
        llm(1, session_id="s", model="gpt-4o", input_tokens=10),
        llm(2, session_id="s", model="openai/gpt-4o", error_type="Overloaded"),
    ]
    rows = {r["model"]: r for r in gather_data(sessionize(events)).by_model}
    assert rows["azure/gpt-4o"]["unpriced"] == rows["gpt-4o"]["unpriced"] == 0  # both priced
    assert rows["openai/gpt-4o"]["calls"] == 1
    assert rows["azure/gpt-4o"]["calls"] == rows["gpt-4o"]["calls"] == 1


def test_the_last_error_of_a_session_is_picked_on_days_without_event_positions():
    """Days written before `event_position` hold nulls there: the row picked was any."""
    from trajectory_assets.report.data import gather_data

    out = sessionize(
        [
            llm(0, session_id="s", model="gpt-4o", input_tokens=10),
            event("error", 5, session_id="s", error_type="First"),
            event("error", 6, session_id="s", error_type="Second"),
        ]
    )
    errors = out["errors"]
    at = errors.schema.get_field_index("event_position")
    out["errors"] = errors.set_column(at, "event_position", pa.nulls(errors.num_rows, pa.int64()))
    (row,) = gather_data(out).ended
    assert row["error_type"] == "Second"
