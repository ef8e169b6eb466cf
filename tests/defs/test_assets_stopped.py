"""A run terminated after its commits, while Dagster records them: what it committed is
recorded before it ends, and where the Terminate stops that too, its log says to `sync`."""

import dagster as dg
import pytest

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1
from trajectory_assets.definitions import defs
from trajectory_assets.lake.fs import Lake


def terminated(*args: object, **kwargs: object) -> None:
    raise dg.DagsterExecutionInterruptedError()


@pytest.mark.parametrize("recording_stopped_too", [False, True])
def test_a_run_terminated_while_recording_records_its_days_or_says_to_sync(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, recording_stopped_too: bool
) -> None:
    """A Terminate in the UI as the run recorded its days: the tables were committed, the UI
    showed the earlier days, and the log ended in a bare DagsterExecutionInterruptedError."""
    monkeypatch.setattr("trajectory_assets.defs.assets.table_metadata", terminated)
    if recording_stopped_too:
        monkeypatch.setattr("trajectory_assets.defs.assets.committed_day", terminated)
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
    shown = instance.get_latest_materialization_event(dg.AssetKey("sessions"))
    if not recording_stopped_too:
        assert said == [] and shown is not None  # recorded as a failed run's commit
        return
    assert said == [
        "stopped while recording what the run committed: 6 table day(s) are committed in the "
        "lake but not recorded in Dagster, which shows them as they were: run "
        f"`trajectory-assets sync --lake {lake.display()}`"
    ]
    assert shown is None
