"""Finding sessions named in text: what `forget` searches the lake and the Dagster instance
with, so that what it deletes and what its check finds follow one rule.

An id is named when it stands whole between delimiters (space, `/`, `=`, quotes, brackets, `|`,
`,`, `;`; a trailing `.` or `:` ends a sentence): `s-1` is not named in `s-12`, nor in
`agent:s-1`. Paths carry an id encoded as a partition folder (`session_id=agent%3Arun-1`), and
the UI's metadata previews as markdown text (`run\_1`, `markdown_text`), so those forms count
too. Structured text is searched in its strings, unescaped: JSON documents
(`json_strings`) and HTML pages.
"""

import contextlib
import html
import json
import re
from collections.abc import Collection, Iterator

from trajectory_assets.lake.layout import partition_value

DELIMITERS = "\\s/=|,;\"'()\\[\\]{}<>`"
TOKEN = re.compile(f"[^{DELIMITERS}]+")
MARKDOWN = re.compile(r"([\\`*_\[\]()<>!|~&])")
BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def markdown_text(text: str) -> str:
    """Text that markdown shows as itself, on one line: what agents log is the tenants' to say,
    and a session id of `s\\r\\r[Re-run here](https://...)` made a link in the UI. Line breaks
    and control characters become spaces; what could make a link of other text, an image, HTML
    or emphasis is escaped (a bare URL may still show as a link, as itself)."""
    return MARKDOWN.sub(r"\\\1", BREAKS.sub(" ", text))


def sessions_named(text: str, session_ids: Collection[str]) -> list[str]:
    """The sessions (of `session_ids`) the text names, sorted."""
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


def text_of(name: str, content: bytes) -> str:
    """A file's searchable text: a JSON (Lines) file's strings, an HTML page unescaped, other
    files as they are (bytes that are not UTF-8 read one to one)."""
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return content.decode("latin-1")
    if name.endswith(".html"):
        return html.unescape(text)
    if name.endswith((".json", ".jsonl")):
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            return text
        return "\n".join(s for doc in docs for s in json_strings(doc))
    return text
