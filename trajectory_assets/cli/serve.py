"""`trajectory-assets serve --lake URI [--host H] [--port P] [--app-id APP]`: an OTLP receiver."""

import click

from trajectory_assets.cli.common import CliError, open_lake, say, tell


@click.command(
    short_help="receive OpenTelemetry traces over OTLP/HTTP into the raw lake",
    help="Receive OpenTelemetry traces over OTLP/HTTP into the raw lake.\n\n"
    "Listens for POST /v1/traces (protobuf or JSON) and writes the spans as raw events "
    "(Tier A, docs/tables.md), mapped like `ingest --format otel` does, until Ctrl+C or "
    "SIGTERM; a clean stop writes everything received but the ends of traces still waiting "
    "for their root span, which wait in the lake (_serve/), as what a killed receiver "
    "acknowledged does, for the next one to write. Point an instrumented program at "
    "it with OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:PORT, then materialize the days it "
    "received.\n\n"
    "It has no authentication and no TLS: any client that reaches it writes events under any "
    "app id it names. Keep it on loopback, or behind what authenticates (README, serve).",
)
@click.option("--lake", required=True, help="lake root: a path or s3://bucket/prefix")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=4318,
    show_default=True,
    help="port to listen on (4318 is OTLP/HTTP's; 0 picks a free one)",
)
@click.option("--app-id", help="app id of the received sessions (default: each service.name)")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="on loopback, a host name to take in the Host header besides loopback addresses (a "
    "proxy on this machine that passes on its clients' Host; any port); repeatable",
)
def serve(
    lake: str, host: str, port: int, app_id: str | None, allowed_hosts: tuple[str, ...]
) -> None:
    from trajectory_assets.ingest.otlp import OtlpReceiver
    from trajectory_assets.ingest.otlp_http import host_name, is_loopback, run
    from trajectory_assets.ingest.run import materialize_command

    def ready(url: str) -> None:
        say(f"receiving OTLP/HTTP traces on {url}/v1/traces into {lake}")
        say(f"  export OTEL_EXPORTER_OTLP_ENDPOINT={url}   # Ctrl+C to stop")

    if app_id is not None and not app_id.strip():
        raise CliError("--app-id is empty: give an app id, or leave the option out")
    for allowed in allowed_hosts:  # a URL, or nothing (which took requests naming no host)
        if "/" in allowed or not host_name(allowed):
            raise CliError(f"--allowed-host {allowed!r}: give a host name, e.g. proxy.internal")
    if not is_loopback(host):
        tell(
            f"warning: listening on {host}, beyond this machine, without authentication or TLS: "
            "any client that reaches the port writes events under any app id it names"
            + ("; --allowed-host applies on loopback only" if allowed_hosts else "")
        )
    open_lake(lake, must_exist=False)
    receiver = OtlpReceiver(lake, app_id=app_id)
    try:
        run(receiver, host=host, port=port, ready=ready, allowed_hosts=allowed_hosts)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stats = receiver.stats
    loggers = receiver.logger_stats()
    written = sum(s["written_events"] for s in loggers)
    existing = sum(s["existing_events"] for s in loggers)
    there = f" ({existing:,} re-sent, already in the lake)" if existing else ""
    taken = stats["taken_in"]
    taken_in = f" ({taken:,} taken in from a receiver stopped before writing them)" if taken else ""
    say(
        f"stopped: {stats['spans']:,} span(s) in {stats['traces']:,} trace(s) received{taken_in}, "
        f"{written:,} event(s) written{there}, {stats['rejected_spans']:,} span(s) rejected"
        + (
            f" (kept with the reason under {lake}/_rejected/otlp/)"
            if stats["rejected_spans"]
            else ""
        )
    )
    # a write still failing when the close timed out is pending (or buffered), not yet lost
    lost = sum(s["lost"] + s["dropped"] + s["pending"] + s["buffered"] for s in loggers)
    if lost:
        raise CliError(f"{lost:,} event(s) could not be written (see the log above)")
    command = materialize_command(lake, sorted(receiver.days))
    if command and written:  # (re-sent events alone bring nothing new)
        say(f"materialize with: {command}")
