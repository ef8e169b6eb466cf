"""Where a `materialize` run's time went, read back from its Dagster instance after it exited.

Nothing in the measured process is instrumented for the benchmark: the figures are what the run
recorded anyway, in the fresh `DAGSTER_HOME` it ran with.

- From event timestamps: process start -> `RUN_START` (interpreter start, imports, loading the
  definitions, creating the run), each step's `STEP_START` -> `STEP_SUCCESS` (one step per
  operator; `compact` is the compaction), `RUN_START` -> `RUN_SUCCESS`, and the run's end -> the
  process's exit (the command's summary, interpreter shutdown).
- From materialization metadata: every float entry named `phase/<name>` (seconds: `phase/plan`,
  `phase/batches`, `phase/commit`, `phase/checks`, `phase/ray_start`, ... whatever the engine
  records), per asset, and the text entries `runtime` and `read_from`.

A range run records the same metadata on every day's materialization, and the outputs of one
operator (or every asset of a run) may all carry the same phases. So identical sets of phases
count once, and different sets (other operators, per-day figures) add up: per asset over its
materializations, then per step over its assets.
"""

from pathlib import Path
from typing import TypedDict

PHASE_PREFIX = "phase/"


class RunPhases(TypedDict):
    """The phases of one run. Seconds throughout."""

    run_id: str
    status: str
    start_and_load_s: float
    run_s: float
    run_end_to_exit_s: float
    steps_s: dict[str, float]
    step_windows: dict[str, list[float]]
    """Each step's [start, end] as epoch seconds, to place other observations (file opens)."""
    by_asset: dict[str, dict[str, float]]
    by_step: dict[str, dict[str, float]]
    totals: dict[str, float]
    """Each phase name summed over the steps."""
    runtime: dict[str, str]
    read_from: dict[str, str]
    materializations: int
    check_evaluations: int
    checks_failed: list[str]


def read_run(home: Path, started_at: float, exited_at: float) -> RunPhases:
    """The phases of the one run recorded in the instance at `home`."""
    import dagster as dg
    from dagster import DagsterEventType as T

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs()
        if len(runs) != 1:
            raise RuntimeError(f"{home}: expected one run, found {len(runs)}")
        run = runs[0]
        entries = instance.all_logs(run.run_id)
    finally:
        instance.dispose()

    run_start = run_end = None
    step_start: dict[str, float] = {}
    windows: dict[str, list[float]] = {}
    recorded: dict[str, list[dict[str, float]]] = {}  # asset -> its phases, once per day
    step_of: dict[str, str] = {}
    runtime: dict[str, str] = {}
    read_from: dict[str, str] = {}
    materializations = evaluations = 0
    failed: list[str] = []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == T.RUN_START:
            run_start = entry.timestamp
        elif kind in (T.RUN_SUCCESS, T.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == T.STEP_START and event.step_key:
            step_start[event.step_key] = entry.timestamp
        elif kind == T.STEP_SUCCESS and event.step_key in step_start:
            windows[event.step_key] = [step_start[event.step_key], entry.timestamp]
        elif kind == T.ASSET_MATERIALIZATION:
            materializations += 1
            m = event.event_specific_data.materialization  # type: ignore[union-attr]
            asset = m.asset_key.to_user_string()
            step_of[asset] = event.step_key or "?"
            phases: dict[str, float] = {}
            for key, value in m.metadata.items():
                raw = value.value
                if key.startswith(PHASE_PREFIX) and isinstance(raw, int | float):
                    phases[key[len(PHASE_PREFIX) :]] = float(raw)
                elif key == "runtime":
                    runtime[asset] = str(raw)
                elif key == "read_from":
                    read_from[asset] = str(raw)
            recorded.setdefault(asset, []).append(phases)
        elif kind == T.ASSET_CHECK_EVALUATION:
            evaluations += 1
            data = event.event_specific_data
            if not getattr(data, "passed", True):
                asset = data.asset_key.to_user_string()  # type: ignore[union-attr]
                failed.append(f"{asset}:{data.check_name}")  # type: ignore[union-attr]
    if run_start is None or run_end is None:
        raise RuntimeError(f"{home}: run {run.run_id} has no start or end event")

    by_asset = {asset: distinct_sum(seen) for asset, seen in recorded.items()}
    by_step = {
        step: distinct_sum([by_asset[a] for a, s in step_of.items() if s == step])
        for step in sorted(set(step_of.values()))
    }
    totals: dict[str, float] = {}
    for phases in by_step.values():
        for name, seconds in phases.items():
            totals[name] = totals.get(name, 0.0) + seconds
    return RunPhases(
        run_id=run.run_id,
        status=str(run.status.value),
        start_and_load_s=run_start - started_at,
        run_s=run_end - run_start,
        run_end_to_exit_s=exited_at - run_end,
        steps_s={step: end - start for step, (start, end) in windows.items()},
        step_windows=windows,
        by_asset=by_asset,
        by_step=by_step,
        totals=totals,
        runtime=runtime,
        read_from=read_from,
        materializations=materializations,
        check_evaluations=evaluations,
        checks_failed=failed,
    )


def flat_phases(phases: RunPhases) -> dict[str, float]:
    """One level of `name: seconds` for medians and tables: `start_and_load`, `step/<op>`, each
    phase total as `phase/<name>`, `run_end_to_exit`."""
    flat = {"start_and_load": phases["start_and_load_s"]}
    flat.update({f"step/{step}": s for step, s in phases["steps_s"].items()})
    flat.update({f"{PHASE_PREFIX}{name}": s for name, s in phases["totals"].items()})
    flat["run_end_to_exit"] = phases["run_end_to_exit_s"]
    return flat


def distinct_sum(measurements: list[dict[str, float]]) -> dict[str, float]:
    """The phases of several materializations: identical sets of phases are one measurement
    repeated (on every day of a range, on every output of one operator or one run), so each
    distinct set counts once, and distinct sets add up."""
    total: dict[str, float] = {}
    for phases in {tuple(sorted(p.items())) for p in measurements if p}:
        for name, seconds in phases:
            total[name] = total.get(name, 0.0) + seconds
    return dict(sorted(total.items()))
