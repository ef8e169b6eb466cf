"""Loops and stalls over a sequence of tool calls, shared by `sessions` and `turn_features`.

A tool call is the pair (tool_name, arguments_hash); two nulls are equal here. Over the calls of
a group (a session, or a turn) in event order:

- `max_identical_tool_run`: the longest run of consecutive equal calls (0 without tool calls);
- `max_ping_pong`: the longest run of consecutive calls alternating between two different calls
  A, B, A, B, … (a call equals the one two before it and differs from the one just before);
  runs shorter than 4 calls count as 0;
- `loop_detected`: max_identical_tool_run >= `identical_run_threshold` (default 3) or
  max_ping_pong >= `ping_pong_threshold` (default 4).
"""

from dataclasses import dataclass

DEFAULT_IDENTICAL_RUN = 3
DEFAULT_PING_PONG = 4
MIN_PING_PONG = 4

ARGUMENTS_HASH = """CASE WHEN json_valid(payload) THEN
    CASE WHEN json_type(payload) = 'OBJECT' AND json_type(payload, '$.arguments') <> 'NULL'
         THEN md5(CAST(json_extract(payload, '$.arguments') AS VARCHAR)) END END"""
"""md5 (hex) of the payload's `arguments` value, as DuckDB writes that JSON value back (compact,
key order kept); null when the payload is not a JSON object, has no `arguments`, or it is null."""


@dataclass(frozen=True)
class LoopThresholds:
    """When a run counts as a loop; both are run config (rules.md defaults)."""

    identical_run: int = DEFAULT_IDENTICAL_RUN
    ping_pong: int = DEFAULT_PING_PONG

    def __post_init__(self) -> None:
        if self.identical_run < 2:
            raise ValueError(f"identical_run_threshold must be >= 2, got {self.identical_run}")
        if self.ping_pong < MIN_PING_PONG:
            raise ValueError(
                f"ping_pong_threshold must be >= {MIN_PING_PONG} (max_ping_pong is 0 below "
                f"{MIN_PING_PONG} calls), got {self.ping_pong}"
            )

    def detected(self, identical: str, ping_pong: str) -> str:
        """SQL: the loop flag from the two columns (null-safe: a missing group is no loop)."""
        return (
            f"(coalesce({identical}, 0) >= {int(self.identical_run)} "
            f"OR coalesce({ping_pong}, 0) >= {int(self.ping_pong)})"
        )


def loop_runs_sql(calls: str, keys: str) -> str:
    """SQL: one row per group `keys` with `max_identical_tool_run` and `max_ping_pong`.

    `calls` is a relation of tool calls with the `keys` columns, `rn` (event order) and
    `tool_name`, `arguments_hash`; groups without calls have no row (the caller coalesces to 0).
    """
    same_1 = "(tool_name IS NOT DISTINCT FROM t1 AND arguments_hash IS NOT DISTINCT FROM h1)"
    same_2 = "(tool_name IS NOT DISTINCT FROM t2 AND arguments_hash IS NOT DISTINCT FROM h2)"
    return f"""
    WITH ordered AS (
        SELECT {keys}, tool_name, arguments_hash,
            row_number() OVER w AS pos,
            lag(tool_name) OVER w AS t1, lag(arguments_hash) OVER w AS h1,
            lag(tool_name, 2) OVER w AS t2, lag(arguments_hash, 2) OVER w AS h2
        FROM {calls}
        WINDOW w AS (PARTITION BY {keys} ORDER BY rn)
    ),
    flagged AS (
        SELECT {keys}, pos,
            pos > 1 AND {same_1} AS repeats,
            pos > 2 AND {same_2} AND NOT {same_1} AS alternates
        FROM ordered
    ),
    grouped AS (
        SELECT {keys}, alternates,
            sum(CASE WHEN repeats THEN 0 ELSE 1 END) OVER g AS identical_run,
            sum(CASE WHEN alternates THEN 0 ELSE 1 END) OVER g AS alternating_run
        FROM flagged
        WINDOW g AS (PARTITION BY {keys} ORDER BY pos ROWS UNBOUNDED PRECEDING)
    ),
    identical AS (
        SELECT {keys}, max(n) AS max_identical_tool_run
        FROM (SELECT {keys}, count(*) AS n FROM grouped GROUP BY {keys}, identical_run)
        GROUP BY {keys}
    ),
    ping_pong AS (
        SELECT {keys}, max(n) AS longest
        FROM (
            SELECT {keys}, count(*) FILTER (WHERE alternates) + 2 AS n
            FROM grouped GROUP BY {keys}, alternating_run
        )
        GROUP BY {keys}
    )
    SELECT {keys}, i.max_identical_tool_run,
        CASE WHEN p.longest >= {MIN_PING_PONG} THEN p.longest ELSE 0 END AS max_ping_pong
    FROM identical i JOIN ping_pong p USING ({keys})
    """
