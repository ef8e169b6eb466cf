"""A run terminated after its commits, while Dagster records them: the run's log says what to
run for Dagster to show what the lake holds."""

import dagster as dg
import pytest

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1
from trajectory_assets.definitions import defs
from trajectory_assets.lake.fs import Lake


def test_a_run_terminated_while_recording_says_to_sync(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Terminate in the UI as the run recorded its days: the tables were committed, the UI
    showed the earlier days, and the log ended in a bare DagsterExecutionInterruptedError."""

    def terminated(*args: object, **kwargs: object) -> None:
        raise dg.DagsterExecutionInterruptedError()

    monkeypatch.setattr("trajectory_assets.defs.assets.table_metadata", terminated)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets("sessions"),
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    said = [e.user_message for e in instance.all_logs(result.run_id) if "sync" in e.user_message]
    assert said == [
        "stopped while recording 1 day(s) of 1 table(s): every one is committed in the lake, "
        "and the ones not recorded yet show their earlier state in Dagster: run "
        f"`trajectory-assets sync --lake {lake.display()}` to record what the lake holds"
    ]
