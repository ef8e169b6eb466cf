"""A command-line run stopped by its user: Canceled, as a Terminate in the UI is."""

import dagster as dg

PROCESS_TAG = "trajectory_assets/process"  # host:pid of the command that ran the run
STOPPED = "interrupted by Ctrl+C or SIGTERM"
STOPS = (KeyboardInterrupt, dg.DagsterExecutionInterruptedError)  # how a stop reaches a step


def record_stop(context: dg.AssetExecutionContext, exc: BaseException) -> None:
    """Ctrl+C (or SIGTERM) in a command's run is its user's request to stop, recorded as one
    before Dagster ends the run, which then ends Canceled (otherwise Dagster calls the run
    failed first, "No user initiated termination request was found", and the UI shows a
    failure). A run of the daemon whose process is stopped is not a command's (no
    `PROCESS_TAG`): a failure still, which run retries take up."""
    if isinstance(exc, STOPS) and PROCESS_TAG in context.run.tags:
        run = context.instance.get_run_by_id(context.run.run_id)
        if run is not None and run.status == dg.DagsterRunStatus.STARTED:
            context.instance.report_run_canceling(run, message=STOPPED)
