"""Reading Inspect AI eval logs, and the facts about them that take more than one field.

`.eval` ZIP (deflate or zstd entries) and `.json` logs give the same `(header, samples)`.
Entries compressed with zstd (ZIP method 93, written by recent Inspect versions and unreadable by
Python's zipfile before 3.14) are decompressed with pyarrow's zstd codec. A log still being
written has `_journal/start.json` instead of `header.json`.
"""

import datetime as dt
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    input_with_cache,
    load_json,
    read_bytes,
    to_float,
    to_int,
)
from trajectory_assets.ingest.times import parse_ts

_ZSTD = 93


def _zip_member(archive: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo) -> bytes:
    if info.compress_type != _ZSTD:
        return archive.read(info)
    import pyarrow as pa

    offset = info.header_offset
    (signature,) = struct.unpack("<I", data[offset : offset + 4])
    if signature != 0x04034B50:
        raise UnparseableFileError(f"{info.filename}: bad local header in the ZIP")
    name_len, extra_len = struct.unpack("<HH", data[offset + 26 : offset + 30])
    start = offset + 30 + name_len + extra_len
    compressed = data[start : start + info.compress_size]
    try:
        out = pa.Codec("zstd").decompress(compressed, decompressed_size=info.file_size)
    except Exception as exc:
        raise UnparseableFileError(f"{info.filename}: zstd entry cannot be read: {exc}") from None
    raw = out.to_pybytes()
    if zlib.crc32(raw) != info.CRC:
        raise UnparseableFileError(f"{info.filename}: CRC mismatch in the ZIP")
    return raw


def _json_member(archive: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo) -> Any:
    try:
        return json.loads(_zip_member(archive, data, info))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnparseableFileError(f"{info.filename}: invalid JSON: {exc}") from None


def _sample_key(name: str) -> tuple[int, str, int]:
    stem = name.rsplit("/", 1)[-1].removesuffix(".json")
    sample, _, epoch = stem.rpartition("_epoch_")
    return (0 if sample.isdigit() else 1, sample.zfill(12), int(epoch) if epoch.isdigit() else 0)


def load(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, samples) of a log in either encoding."""
    data = read_bytes(path)
    if data[:2] == b"PK":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise UnparseableFileError(f"not a readable .eval ZIP: {exc}") from None
        with archive:
            members = {i.filename: i for i in archive.infolist()}
            head = members.get("header.json") or members.get("_journal/start.json")
            if head is None:
                raise UnparseableFileError("no header.json or _journal/start.json in the .eval")
            header = _json_member(archive, data, head)
            names = sorted(
                (n for n in members if n.startswith("samples/") and n.endswith(".json")),
                key=_sample_key,
            )
            samples = [_json_member(archive, data, members[n]) for n in names]
    else:
        header = load_json(path)
        if not isinstance(header, dict):
            raise UnparseableFileError("not an Inspect log: the document is not an object")
        samples = header.get("samples") or []
    if not isinstance(header, dict) or not isinstance(header.get("eval"), dict):
        raise UnparseableFileError("not an Inspect log: no 'eval' header")
    for key in ("run_id", "task_id"):
        if not header["eval"].get(key):
            raise UnparseableFileError(f"not an Inspect log: eval.{key} is missing")
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise UnparseableFileError("samples are not a list of objects")
    return header, samples


def finished(header: dict[str, Any]) -> bool:
    """The eval ran every sample it planned (status `success`; a log without a status is
    taken as it reads)."""
    return header.get("status") in (None, "success")


def unfinished(header: dict[str, Any], in_log: int) -> str | None:
    """What to tell of an eval that did not finish (cancelled, failed, still running): its log
    holds the samples that ran, and nothing in its samples says the run is partial."""
    if finished(header):
        return None
    status, spec = header["status"], header["eval"]
    dataset = spec.get("dataset") if isinstance(spec.get("dataset"), dict) else {}
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    ids, limit = dataset.get("sample_ids"), config.get("limit")
    chosen = len(ids) if isinstance(ids, list) else to_int(dataset.get("samples"))
    if isinstance(limit, list) and len(limit) == 2 and all(isinstance(x, int) for x in limit):
        limit = limit[1] - limit[0]  # a range of the dataset (`--limit 10-20`)
    if chosen is not None and not isinstance(ids, list) and isinstance(limit, int):
        chosen = min(chosen, limit)
    epochs = to_int(config.get("epochs")) or 1
    planned = f"{chosen * epochs} planned" if chosen is not None else "an unknown number of"
    return (
        f"the eval's status is {status}: {in_log} of {planned} sample(s) are in its log, and "
        "its eval_runs row counts these only (their eval_result payloads say `eval_status`)"
    )


# ------------------------------------------------------------------------------------- scoring
def value_to_float(value: Any) -> float | None:
    """Inspect's own conversion of a score value to a number (None when it has none)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        letters = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
        if text in letters:
            return letters[text]
        if text.lower() in ("yes", "true"):
            return 1.0
        if text.lower() in ("no", "false"):
            return 0.0
        return to_float(text)
    return None


def first_score(
    header: dict[str, Any], scores: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    order = [s.get("name") for s in header["eval"].get("scorers") or [] if isinstance(s, dict)]
    for name in [*order, *scores]:
        if name in scores and isinstance(scores[name], dict):
            return name, scores[name]
    return None


# ------------------------------------------------------------------------------------- calls
def usage_tokens(
    usage: dict[str, Any],
) -> tuple[int | None, int | None, int | None, dict[str, Any]]:
    """(input with cache, output, cache reads, payload notes) of an Inspect ModelUsage."""
    output = to_int(usage.get("output_tokens"))
    reads = to_int(usage.get("input_tokens_cache_read"))
    writes = to_int(usage.get("input_tokens_cache_write"))
    stated = to_int(usage.get("input_tokens"))
    total, added = input_with_cache(
        stated, reads, writes, output_tokens=output, total_tokens=to_int(usage.get("total_tokens"))
    )
    notes: dict[str, Any] = {}
    if writes:
        notes["cache_write_tokens"] = writes
    if added:
        notes["input_tokens_stated"] = stated
    return total, output, reads, notes


def _stamp(e: dict[str, Any], key: str) -> dt.datetime | None:
    try:
        return parse_ts(e[key]) if e.get(key) else None
    except (ValueError, TypeError):
        return None


def retried_attempts(events: list[dict[str, Any]]) -> dict[int, int]:
    """Failed model events that a later model event retried: their position → the call's.

    With `call_id` (recent Inspect) the attempts of one call share it and the last one is the
    call. Without it (older logs), the call's event comes after its failed attempts but started
    before them, and they lie inside its [timestamp, completed] span.
    """
    models = [i for i, e in enumerate(events) if e.get("event") == "model"]
    out: dict[int, int] = {}
    by_call: dict[str, list[int]] = {}
    for i in models:
        if events[i].get("call_id"):
            by_call.setdefault(str(events[i]["call_id"]), []).append(i)
    for attempts in by_call.values():
        final = max(attempts, key=lambda i: (to_int(events[i].get("attempt")) or 0, i))
        out.update({i: final for i in attempts if i != final and events[i].get("error")})
    failed: list[int] = []  # failed events without call_id not yet claimed by a retry
    for i in models:
        e = events[i]
        if e.get("call_id"):
            continue
        if e.get("error"):
            failed.append(i)
            continue
        start, end = _stamp(e, "timestamp"), _stamp(e, "completed")
        if start is not None and end is not None:
            for j in failed:
                when = _stamp(events[j], "timestamp")
                same_span = events[j].get("span_id") == e.get("span_id")
                if same_span and when is not None and start <= when <= end:
                    out[j] = i
        failed = []
    return out
