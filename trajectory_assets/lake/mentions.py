"""Finding an app's sessions named in what the lake and the Dagster instance keep: what
`forget` deletes and what its check finds follow these rules.

Where text has a structure, an id counts where it stands for a session of the app: a cell under
a `session` or `session_id` header in a row whose `app` or `app_id` cell, when it has one, is
the app (the UI's previews, the report's pages); a raw file's path (`app_id=A/session_id=S`); a
value of a Delta log's file action (a partition value, a column's min or max) of a file of the
app, or of several apps. Other text (messages, the strings of rejected input) names an id when it
stands whole between delimiters (space, `/`, `=`, quotes, brackets, `|`, `,`, `;`; a trailing `.`
or `:` ends a sentence): `s-1` is not named in `s-12`, nor in `agent:s-1`; in the Dagster
instance such text must name the app as well. Matched anywhere as a word, the same id of another
app, or an id such as `1` that counts and dates hold, made `forget` delete other apps' runs and
never verify.
"""

import contextlib
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from trajectory_assets.lake.layout import decode_partition_value, partition_value

DELIMITERS = "\\s/=|,;\"'()\\[\\]{}<>`"
TOKEN = re.compile(f"[^{DELIMITERS}]+")
MARKDOWN = re.compile(r"([\\`*_\[\]()<>!|~&])")
UNESCAPE = re.compile(r"\\([\\`*_\[\]()<>!|~&])")
BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
RAW_PATH = re.compile(r"app_id=([^/\s\"'|,;]+)/session_id=([^/\s\"'|,;]+)")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
APP_HEADERS = ("app_id", "app")
SESSION_HEADERS = ("session_id", "session")
STATS_CUT = 64
"""delta-rs cuts a longer string's stats to 64 characters (a max with its last one raised): such
a value that begins a longer id may stand for it (this package's own commits leave long strings
out of the stats, but a table of the lake may be written by another writer)."""
OTLP_NUMBERS = ("intValue", "doubleValue")


def markdown_text(text: str) -> str:
    """Text that markdown shows as itself, on one line: what agents log is the tenants' to say,
    and a session id of `s\\r\\r[Re-run here](https://...)` made a link in the UI. Line breaks
    and control characters become spaces; what could make a link of other text, an image, HTML
    or emphasis is escaped (a bare URL may still show as a link, as itself)."""
    return MARKDOWN.sub(r"\\\1", BREAKS.sub(" ", text))


def unescaped(text: str) -> str:
    """`markdown_text`'s text as it was (its line breaks aside)."""
    return UNESCAPE.sub(r"\1", text)


def sessions_named(text: str, session_ids: Collection[str]) -> list[str]:
    """The sessions (of `session_ids`) the text names as words, sorted."""
    forms: dict[str, str] = {}
    odd: dict[str, str] = {}
    for sid in session_ids:
        for form in {sid, partition_value(sid), markdown_text(sid)}:
            (forms if TOKEN.fullmatch(form) else odd)[form] = sid
    found = set()
    for token in TOKEN.findall(text):
        named = forms.get(token) or forms.get(token.rstrip(".:"))
        if named is not None:
            found.add(named)
    for form, sid in odd.items():  # an id with delimiters in it: between delimiters, too
        bounded = f"(?:^|(?<=[{DELIMITERS}])){re.escape(form)}(?=$|[{DELIMITERS}]|[.:](?:$|\\s))"
        if sid not in found and re.search(bounded, text):
            found.add(sid)
    return sorted(found)


@dataclass(frozen=True)
class Sessions:
    """Sessions of one app, and the rules that find them."""

    app_id: str
    ids: frozenset[str]
    _shown: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shown = {BREAKS.sub(" ", sid): sid for sid in self.ids}  # as a preview cell unescaped
        object.__setattr__(self, "_shown", shown | {sid: sid for sid in self.ids})

    def in_words(self, text: str) -> set[str]:
        return set(sessions_named(text, self.ids)) if self.ids else set()

    def in_paths(self, text: str) -> set[str]:
        """Sessions of the app in raw file paths (markdown-escaped ones too)."""
        found = set()
        for app, sid in RAW_PATH.findall(unescaped(text)):
            if decode_partition_value(app) == self.app_id:
                session = decode_partition_value(sid)
                if session in self.ids:
                    found.add(session)
        return found

    def in_rows(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> set[str]:
        """Sessions of the app in a table's rows, by its `app` and `session` columns."""
        names = [h.strip().lower() for h in header]
        app = next((names.index(h) for h in APP_HEADERS if h in names), None)
        session = next((names.index(h) for h in SESSION_HEADERS if h in names), None)
        if session is None:
            return set()
        found = set()
        for cells in rows:
            if session >= len(cells) or (app is not None and self._other_app(cells, app)):
                continue
            if cells[session] in self._shown:
                found.add(self._shown[cells[session]])
        return found

    def _other_app(self, cells: Sequence[str], app: int) -> bool:
        return app < len(cells) and cells[app] not in (self.app_id, BREAKS.sub(" ", self.app_id))

    def in_markdown(self, text: str) -> set[str]:
        """Sessions in a markdown text: its tables by their rows, other lines by paths, and as
        words where a line names the app too."""
        found: set[str] = set()
        for block in _markdown_blocks(text):
            if isinstance(block, str):
                found |= self.in_paths(block)
                if self.app_id in sessions_named(block, [self.app_id]):
                    found |= self.in_words(block)
            else:
                header, rows = block
                found |= self.in_rows(header, rows)
        return found

    def in_html(self, page: str) -> set[str]:
        """Sessions in an HTML page's tables (the daily report lists sessions by app)."""
        reader = _Tables()
        reader.feed(page)
        reader.close()
        return {s for header, rows in reader.tables for s in self.in_rows(header, rows)}

    def in_values(self, doc: object) -> set[str]:
        """Sessions a JSON document (rejected input) names: a string that is an id, or a raw
        file's path. OTLP's JSON writes integers as strings (`{"intValue": "1"}`): not ids."""
        found = set()
        for text in json_strings(_without_numbers(doc)):
            if text in self.ids:
                found.add(text)
            found |= self.in_paths(text)
        return found

    def in_document(self, doc: object) -> set[str]:
        """Sessions a JSON document of the lake's own names (a Delta log's entries, a batch
        receipt, a commit intent): its data files, as file actions, and raw paths."""
        found: set[str] = set()
        stack = [doc]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if "path" in item and "stats" in item:  # a data file: an add, a staged file
                    partition = item.get("partitionValues", item.get("partition"))
                    found |= self.in_file_action({**item, "partitionValues": partition})
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                found |= self.in_paths(item)
        return found

    def _may_hold_app(self, partition: Mapping[str, Any], low: Any, high: Any) -> bool:
        """Whether a file's rows may be the app's: its partition's app, or the range of its
        `app_id` column (unknown: they may)."""
        if "app_id" in partition:
            return bool(partition["app_id"] == self.app_id)
        return not (isinstance(low, str) and isinstance(high, str)) or low <= self.app_id <= high

    def in_file_action(self, action: Mapping[str, Any]) -> set[str]:
        """Sessions a Delta log's add or remove action names: its partition values and its
        stats' min and max, unless the file holds no rows of the app."""
        partition = _pairs(action.get("partitionValues"))
        stats = _stats(action.get("stats") or action.get("stats_parsed"))
        mins, maxs = stats.get("minValues") or {}, stats.get("maxValues") or {}
        if not self._may_hold_app(partition, mins.get("app_id"), maxs.get("app_id")):
            return set()
        values = [*partition.values(), *_flat(mins), *_flat(maxs)]
        found = {v for v in values if v in self.ids}
        found |= {
            sid
            for v in values
            if isinstance(v, str) and len(v) == STATS_CUT
            for sid in self.ids
            if len(sid) > STATS_CUT and sid.startswith(v[:-1])
        }
        return found | self.in_paths(str(action.get("path") or ""))


def json_strings(value: object) -> Iterator[str]:
    """Every string inside a parsed JSON document, keys included, and inside the JSON documents
    written as strings in it (Delta's file stats are one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            if item[:1] in ("{", "["):
                with contextlib.suppress(json.JSONDecodeError):
                    stack.append(json.loads(item))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _markdown_blocks(text: str) -> Iterator[str | tuple[list[str], list[list[str]]]]:
    """A markdown text's lines, and its tables as (header, rows) of cells unescaped."""
    table: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = CELL_SPLIT.split(line.strip()[1:-1])
            if not all(set(c.strip()) <= set("-: ") for c in cells):  # not the `|---|` line
                table.append([unescaped(_unpadded(c)) for c in cells])
            continue
        if table:
            yield table[0], table[1:]
            table = []
        yield line


def _without_numbers(value: object) -> object:
    """A JSON document without OTLP's typed numbers."""
    if isinstance(value, dict):
        return {k: _without_numbers(v) for k, v in value.items() if k not in OTLP_NUMBERS}
    if isinstance(value, list):
        return [_without_numbers(v) for v in value]
    return value


def _unpadded(cell: str) -> str:
    """A cell without the one space a markdown table puts on each side (an id's own spaces,
    or a control character shown as one, are part of it)."""
    return cell.removeprefix(" ").removesuffix(" ")


def _pairs(value: Any) -> dict[str, Any]:
    """A Delta map as a dict: a JSON object, or Arrow's list of (key, value) from a checkpoint."""
    return dict(value) if isinstance(value, Mapping | list) else {}


def _stats(value: Any) -> dict[str, Any]:
    """File stats, written as JSON or (in a checkpoint) as a struct."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        with contextlib.suppress(json.JSONDecodeError):
            parsed = json.loads(value)
            return parsed if isinstance(parsed, dict) else {}
    return {}


def _flat(values: Mapping[str, Any]) -> Iterator[Any]:
    """The leaf values of nested stats (a struct column's min is an object)."""
    for value in values.values():
        if isinstance(value, Mapping):
            yield from _flat(value)
        else:
            yield value


class _Tables(HTMLParser):
    """The tables of an HTML page as (header, rows) of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._header_row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr":
            self._row, self._header_row = [], False
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._header_row = [], self._header_row or tag == "th"

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            header, rows = self.tables[-1]
            if self._header_row and not header:
                header.extend(self._row)
            else:
                rows.append(self._row)
            self._row = None
