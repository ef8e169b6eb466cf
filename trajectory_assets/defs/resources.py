"""Dagster resources: where the lake is, and which runtime computes the batches."""

import json
from typing import Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from trajectory_assets.engine.runtimes.base import Runtime
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
        options: dict[str, Any] = json.loads(self.storage_options_json or "{}")
        if self.root.startswith("s3://"):
            endpoint = s3_options(self.s3_endpoint_url, self.s3_region).get("client_kwargs", {})
            options["client_kwargs"] = {**options.get("client_kwargs", {}), **endpoint}
        return Lake(self.root, options)


class RayResource(dg.ConfigurableResource):
    """The compute runtime. Ray starts lazily, on the first batch, and only once per process.

    No `address`: a private local Ray sized to the machine (or `num_cpus`), shut down after the
    run. `address="auto"` or `ray://host:port`: an existing cluster, never started or stopped
    here. `runtime="inline"`: no Ray at all, batches run in the Dagster process.
    """

    runtime: Literal["ray", "inline"] = Field(
        default="ray", description="`ray` (Ray Data tasks) or `inline` (in-process, no Ray)."
    )
    address: str | None = Field(
        default=None, description="Existing Ray cluster: `auto` or `ray://host:port`."
    )
    num_cpus: int | None = Field(default=None, description="CPUs of the embedded local Ray.")
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

    _runtime: Runtime | None = PrivateAttr(default=None)

    def get_runtime(self) -> Runtime:
        if self._runtime is None:
            if self.runtime == "inline":
                from trajectory_assets.engine.runtimes.inline import InlineRuntime

                self._runtime = InlineRuntime()
            else:
                from trajectory_assets.engine.runtimes.ray import RayRuntime

                self._runtime = RayRuntime(
                    address=self.address,
                    num_cpus=self.num_cpus,
                    object_store_memory=self.object_store_memory,
                    max_task_retries=self.max_task_retries,
                    data_cpus=self.data_cpus,
                    data_object_store_bytes=self.data_object_store_bytes,
                )
        return self._runtime

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        stop = getattr(self._runtime, "stop", None)
        if stop is not None:
            stop()
