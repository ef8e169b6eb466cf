"""Dagster resources: where the lake is, and where the batches run."""

import json
import os
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from trajectory_assets.defs.settings import DEFAULT_LAKE, LAKE
from trajectory_assets.engine.runtimes.auto import DEFAULT_THRESHOLD_BYTES, named_runtime
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.engine.runtimes.names import RuntimeName
from trajectory_assets.engine.runtimes.ray import WORKERS_START_TIMEOUT_S
from trajectory_assets.errors import SettingError
from trajectory_assets.lake.fs import Lake, s3_options


class LakeResource(dg.ConfigurableResource):
    """The lake: a local folder by default, `s3://bucket/prefix` through s3fs.

    S3 credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN, AWS_PROFILE) read by s3fs itself, so they never appear in run config.
    """

    root: str = Field(default="lake", description="Lake root: a local path or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible store (MinIO, Ceph, a test server); unset: AWS.",
    )
    s3_region: str | None = Field(default=None, description="S3 region, when it matters.")
    storage_options_json: str | None = Field(
        default=None, description="Extra fsspec storage options as a JSON object."
    )

    def lake(self) -> Lake:
        root, endpoint_url = _value(self.root), _value(self.s3_endpoint_url)
        if root is None and isinstance(self.root, dg.EnvVar):  # not the working folder's lake
            raise SettingError(
                f"the lake resource's root is the environment variable {self.root.env_var_name}, "
                "which is not set"
            )
        options: dict[str, Any] = json.loads(_value(self.storage_options_json) or "{}")
        if root is not None and root.startswith("s3://"):
            setting = (
                self.s3_endpoint_url.env_var_name
                if isinstance(self.s3_endpoint_url, dg.EnvVar)
                else "the lake resource's s3_endpoint_url"
            )
            given = s3_options(endpoint_url, _value(self.s3_region), setting)
            endpoint = given.get("client_kwargs", {})
            options["client_kwargs"] = {**options.get("client_kwargs", {}), **endpoint}
        return Lake(root or "lake", options)

    def absent(self, lake: Lake) -> str | None:
        """Why a run has no lake to read, if it has none: a local root that is not there (the
        working folder's `lake` where TRAJECTORY_ASSETS_LAKE is unset: a run of a UI started
        without it read no raw data, saying nothing of the setting)."""
        if not lake.is_local or os.path.isdir(lake.root):
            return None
        if _value(self.root) == DEFAULT_LAKE and not os.environ.get(LAKE):
            return (
                f"no lake at {lake.display()} ({LAKE} is unset, so the lake is `{DEFAULT_LAKE}` "
                f"in the folder the code location runs in): set {LAKE} to the lake's folder or URL"
            )
        named = f"{LAKE} names it" if os.environ.get(LAKE) == _value(self.root) else "its root"
        return f"no lake at {lake.display()}: the lake resource's folder is not there ({named})"


def _value(setting: str | None) -> str | None:
    """A setting's value, also before Dagster resolves an EnvVar (when definitions load)."""
    if isinstance(setting, dg.EnvVar):
        return setting.get_value()
    return setting


class ComputeResource(dg.ConfigurableResource):
    """Where batches run: `auto` (the default) keeps small runs in the Dagster process and starts
    Ray for large ones; `ray` always uses Ray Data; `inline` never starts Ray.

    Ray starts lazily, on the first batch, once per process. No `address`: a private local Ray
    sized to the machine (or `num_cpus`), shut down after the run. `address="auto"` or the
    head's `host:6379`: an existing cluster, never started or stopped here, which `auto` then
    uses for every run (the threshold weighs starting a Ray against a small run; a cluster is
    where a deployment wants its batches, not in the Dagster process).
    """

    runtime: RuntimeName = Field(
        default="auto",
        description="`auto`: in-process below `auto_threshold_bytes` of raw input, else Ray "
        "(always Ray when `address` is set); "
        "`ray`: Ray Data tasks; `inline`: in the Dagster process, on every core (or "
        "`num_cpus`), no Ray.",
    )
    auto_threshold_bytes: int = Field(
        default=DEFAULT_THRESHOLD_BYTES,
        description="With `auto`: raw input bytes below which a run stays in-process.",
    )
    address: str | None = Field(
        default=None,
        description="Existing Ray cluster: `auto` or its head's `host:6379` (Ray Data does not "
        "run over Ray Client, `ray://`).",
    )
    num_cpus: int | None = Field(
        default=None,
        description="CPUs the batches use: the size of the embedded local Ray, or the threads "
        "of the in-process runtime (default: every core).",
    )
    object_store_memory: int | None = Field(
        default=None, description="Object store bytes of the embedded local Ray."
    )
    max_task_retries: int = Field(
        default=3, description="Ray retries of a batch task whose worker died."
    )
    data_cpus: float | None = Field(
        default=None, description="Most CPUs the batches may use at once (a cluster share)."
    )
    data_object_store_bytes: int | None = Field(
        default=None, description="Most object store bytes the batches may use at once."
    )
    workers_start_timeout_s: int = Field(
        default=WORKERS_START_TIMEOUT_S,
        description="How long a run waits for a Ray cluster without CPUs (scaling up, or its "
        "worker nodes gone) to have some before it fails.",
    )

    _runtime: Runtime | None = PrivateAttr(default=None)

    def get_runtime(self) -> Runtime:
        if self._runtime is None:
            threshold = 0 if self.address else self.auto_threshold_bytes
            self._runtime = named_runtime(self.runtime, self._ray, self.num_cpus, threshold)
        return self._runtime

    def _ray(self) -> Runtime:
        from trajectory_assets.engine.runtimes.ray import RayRuntime

        return RayRuntime(
            address=self.address,
            num_cpus=self.num_cpus,
            object_store_memory=self.object_store_memory,
            max_task_retries=self.max_task_retries,
            data_cpus=self.data_cpus,
            data_object_store_bytes=self.data_object_store_bytes,
            workers_start_timeout_s=self.workers_start_timeout_s,
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._runtime is not None:
            self._runtime.stop()
