"""docs/tables.md is generated from the table declarations, and every column declares a meaning."""

from pathlib import Path

import pyarrow as pa
import pytest

from trajectory_assets.docs import meaning, tables_markdown, type_name
from trajectory_assets.operators import TABLES
from trajectory_assets.schema import EVENTS, RAW_EVENTS

ROOT = Path(__file__).resolve().parent.parent
TABLES_MD = ROOT / "docs" / "tables.md"

SCHEMAS = {
    "raw_events": RAW_EVENTS,
    "events": EVENTS,
    **{name: spec.schema for name, spec in TABLES.items()},
}


def test_docs_tables_md_is_generated_from_the_declarations() -> None:
    assert TABLES_MD.read_text(encoding="utf-8") == tables_markdown(), (
        "docs/tables.md is out of date: run `python -m trajectory_assets.docs > docs/tables.md`"
    )


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_column_has_a_meaning(name: str) -> None:
    missing = [f.name for f in SCHEMAS[name] if not meaning(f).strip()]
    assert not missing, f"{name}: columns without a meaning: {missing}"


@pytest.mark.parametrize("name", list(TABLES))
def test_table_spec_columns_are_the_declared_meanings(name: str) -> None:
    spec = TABLES[name]
    assert spec.columns == {f.name: meaning(f) for f in spec.schema}


def test_raw_events_keep_their_non_nullable_keys() -> None:
    required = [f.name for f in RAW_EVENTS if not f.nullable]
    assert required == ["event_id", "app_id", "session_id", "ts", "event_type"]
    assert all(f.nullable for f in EVENTS)


def _sections(page: str) -> dict[str, str]:
    """`## ` sections of the page by heading."""
    parts = page.split("\n## ")[1:]
    return {p.split("\n", 1)[0]: p for p in parts}


def test_every_table_has_a_section_with_every_column_in_order() -> None:
    sections = _sections(tables_markdown())
    expected = {"Tier A: `raw_events`": RAW_EVENTS}
    expected.update({f"`{name}`": spec.schema for name, spec in TABLES.items()})
    for heading, schema in expected.items():
        rows = [line for line in sections[heading].splitlines() if line.startswith("| `")]
        names = [row.split("`")[1] for row in rows][: len(schema)]
        assert names == schema.names, heading
        for f, row in zip(schema, rows, strict=False):
            cell = meaning(f).replace("|", "\\|")
            assert row.endswith(f" | {cell} |"), row


def test_types_are_spelled_as_in_spec() -> None:
    assert type_name(pa.float64()) == "float64"
    assert type_name(pa.list_(pa.string())) == "list<string>"
    assert type_name(RAW_EVENTS.field("artifacts").type) == (
        "list<struct<kind: string, uri: string>>"
    )


@pytest.mark.parametrize("doc", ["docs/rules.md", "docs/architecture.md"])
def test_every_check_is_described(doc: str) -> None:
    """Both list the checks by hand: a check added to `BUILT_IN` alone went unsaid."""
    from trajectory_assets.defs.checks import BUILT_IN

    text = (ROOT / doc).read_text()
    names = {"unique_keys", *(c.name for c in BUILT_IN)}
    assert sorted(n for n in names if f"`{n}`" not in text) == []
