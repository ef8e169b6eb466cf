"""Two hand-made coding-agent transcripts, in the shapes the formats document (Claude Code's
`~/.claude/projects/*/<session>.jsonl`, Codex's `rollout-*.jsonl` of `codex-rs/protocol`): split
responses, sub-agents, cache tokens, API errors, tool calls in Codex and token counts, which the
public format fixtures lack."""

import json
from typing import Any


def _line(**fields: Any) -> str:
    return json.dumps(fields)


def _entry(kind: str, uuid: str, parent: str | None, ts: str, message: Any, **extra: Any) -> str:
    fields = {
        "type": kind,
        "uuid": uuid,
        "parentUuid": parent,
        "timestamp": f"2026-02-03T10:{ts}Z",
        "sessionId": "0a7c3d9e-hand-made",
        "cwd": "/work/repo",
        "version": "2.0.14",
        "isSidechain": False,
        "message": message,
    }
    return _line(**{**fields, **extra})


USAGE_A: dict[str, Any] = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 15000,
    "output_tokens": 350,
    # of the writes, those kept for an hour (priced higher), and a server-side search
    "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
    "server_tool_use": {"web_search_requests": 1},
}


def claude_transcript() -> str:
    """A main conversation with a response split over three lines, a failing tool, a sub-agent
    (its own file in recent versions; here inline with `agentId`), a retried API error and a
    synthetic API-error message, one line written twice and a last line cut short."""

    def assistant(msg_id: str, request: str, blocks: list[Any], usage: dict[str, Any]) -> Any:
        return {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": blocks,
            "stop_reason": None,
            "usage": usage,
        }

    bash = {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "pytest"}}
    task = {"type": "tool_use", "id": "toolu_02", "name": "Task", "input": {"prompt": "find x"}}
    read = {"type": "tool_use", "id": "toolu_03", "name": "Read", "input": {"file_path": "a.py"}}
    usage_b = {"input_tokens": 8, "cache_read_input_tokens": 17400, "output_tokens": 90}
    side = {"isSidechain": True, "agentId": "a1b2c3"}
    split = [
        ("u2", "u1", "00:04", {"type": "thinking", "thinking": "run the tests", "signature": "s"}),
        ("u3", "u2", "00:05", {"type": "text", "text": "Running the tests."}),
        ("u4", "u3", "00:06", bash),
    ]
    lines = [
        _entry("user", "u1", None, "00:00", {"role": "user", "content": "fix the failing test"}),
        *[
            _entry(
                "assistant", u, p, t, assistant("msg_A", "req_A", [b], USAGE_A), requestId="req_A"
            )
            for u, p, t, b in split
        ],
        _entry(  # written twice: counts once
            "assistant",
            "u4",
            "u3",
            "00:06",
            assistant("msg_A", "req_A", [bash], USAGE_A),
            requestId="req_A",
        ),
        _entry(
            "user",
            "u5",
            "u4",
            "00:09",
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "is_error": True,
                        "content": "Exit code 1\nFAILED test_x",
                    }
                ],
            },
        ),
        _entry(
            "assistant",
            "u6",
            "u5",
            "00:12",
            assistant("msg_B", "req_B", [task], usage_b),
            requestId="req_B",
        ),
        _entry("user", "s1", "u6", "00:13", {"role": "user", "content": "find x"}, **side),
        _entry(
            "assistant",
            "s2",
            "s1",
            "00:15",
            assistant("msg_C", "req_C", [read], {"input_tokens": 900, "output_tokens": 40}),
            requestId="req_C",
            **side,
        ),
        _entry(
            "user",
            "s3",
            "s2",
            "00:16",
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_03", "content": "x = 1"}],
            },
            **side,
        ),
        _entry(
            "assistant",
            "s4",
            "s3",
            "00:18",
            assistant(
                "msg_D",
                "req_D",
                [{"type": "text", "text": "x is in a.py"}],
                {"input_tokens": 960, "output_tokens": 12},
            ),
            requestId="req_D",
            **side,
        ),
        _entry(
            "user",
            "u7",
            "u6",
            "00:19",
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": "x is in a.py"}
                ],
            },
        ),
        _line(
            type="system",
            subtype="api_error",
            level="error",
            uuid="u8",
            parentUuid="u7",
            timestamp="2026-02-03T10:00:25Z",
            sessionId="0a7c3d9e-hand-made",
            content="API Error: 529 Overloaded; retrying in 2s",
            retryAttempt=1,
        ),
        _entry(
            "assistant",
            "u9",
            "u7",
            "00:40",
            {
                "id": "synthetic-1",
                "model": "<synthetic>",
                "role": "assistant",
                "content": [{"type": "text", "text": "API Error: 429 rate limited"}],
            },
            isApiErrorMessage=True,
            error="rate_limit",
            apiErrorStatus=429,
        ),
        _line(type="file-history-snapshot", messageId="u9", snapshot={}),
        '{"type": "assistant", "uuid": "u10", "timestamp": "2026-02-03T10:00:4',
    ]
    return "\n".join(lines) + "\n"


def codex_rollout() -> str:
    """Three model responses with their token counts (one count repeated), two shell calls (one
    exiting 1), the context Codex injects as user messages, and an error at the end."""

    def line(ts: str, kind: str, **payload: Any) -> str:
        return _line(timestamp=f"2026-02-03T11:{ts}.000Z", type=kind, payload=payload)

    def count(ts: str, total: tuple[int, int, int, int], last: tuple[int, int, int, int]) -> str:
        names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
        info = {
            "total_token_usage": {**dict(zip(names, total, strict=True)), "total_tokens": 0},
            "last_token_usage": {**dict(zip(names, last, strict=True)), "total_tokens": 0},
            "model_context_window": 272000,
        }
        return line(ts, "event_msg", type="token_count", info=info, rate_limits=None)

    text = [{"type": "input_text", "text": "make the build pass"}]
    env = [{"type": "input_text", "text": "<environment_context>cwd /w</environment_context>"}]
    shell_1 = json.dumps({"command": ["bash", "-lc", "make"]})
    shell_2 = json.dumps({"command": ["bash", "-lc", "make test"]})
    ok = json.dumps({"output": "built", "metadata": {"exit_code": 0, "duration_seconds": 0.4}})
    return (
        "\n".join(
            [
                line(
                    "00:00",
                    "session_meta",
                    id="0199a1b2-hand-made",
                    cwd="/w",
                    cli_version="0.46.0",
                    originator="codex_cli_rs",
                    model_provider="openai",
                ),
                line("00:00", "response_item", type="message", role="user", content=env),
                line("00:01", "turn_context", cwd="/w", model="gpt-5-codex", effort="medium"),
                line("00:01", "response_item", type="message", role="user", content=text),
                line("00:03", "response_item", type="reasoning", summary=[], encrypted_content="x"),
                line(
                    "00:04",
                    "response_item",
                    type="function_call",
                    name="shell",
                    arguments=shell_1,
                    call_id="call_1",
                ),
                count("00:04", (4000, 3000, 50, 20), (4000, 3000, 50, 20)),
                line(
                    "00:05",
                    "response_item",
                    type="function_call_output",
                    call_id="call_1",
                    output=ok,
                ),
                line(
                    "00:07",
                    "response_item",
                    type="function_call",
                    name="shell",
                    arguments=shell_2,
                    call_id="call_2",
                ),
                count("00:07", (8200, 6500, 110, 40), (4200, 3500, 60, 20)),
                count("00:07", (8200, 6500, 110, 40), (4200, 3500, 60, 20)),
                line(
                    "00:09",
                    "event_msg",
                    type="exec_command_end",
                    call_id="call_2",
                    exit_code=1,
                    duration={"secs": 1, "nanos": 500000000},
                    stdout="",
                    stderr="1 failed",
                ),
                line(
                    "00:09",
                    "response_item",
                    type="function_call_output",
                    call_id="call_2",
                    output="Exit code: 1\nWall time: 1.5 seconds\nOutput:\n1 failed",
                ),
                line(
                    "00:12",
                    "response_item",
                    type="message",
                    role="assistant",
                    content=[{"type": "output_text", "text": "One test fails; see above."}],
                ),
                count("00:12", (12500, 10000, 190, 60), (4300, 3500, 80, 20)),
                line("00:13", "event_msg", type="error", message="stream disconnected"),
            ]
        )
        + "\n"
    )
