"""A lake root URI becomes an fsspec filesystem and a root path: local disk or `s3://` (s3fs)."""

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow.fs as pafs


@dataclass(frozen=True)
class Lake:
    """Where the lake lives. Picklable, so Ray tasks rebuild the filesystem on the worker."""

    uri: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.uri.split("://", 1)[0] if "://" in self.uri else "file"

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")

    @property
    def root(self) -> str:
        """The root as a path of the filesystem: no scheme, no trailing slash."""
        path = self.uri.split("://", 1)[1] if "://" in self.uri else self.uri
        if self.is_local:
            return posixpath.abspath(path)
        return path.rstrip("/")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        options = dict(self.storage_options)
        if self.protocol == "s3":
            try:
                import s3fs  # noqa: F401
            except ImportError as exc:  # pragma: no cover - s3fs is a core dependency
                raise ImportError("an s3:// lake needs s3fs: pip install s3fs") from exc
            # Ray workers write staging files the driver then lists: a cached listing would
            # hide them, so listings are always fresh.
            options.setdefault("use_listings_cache", False)
        return fsspec.filesystem(self.protocol, **options)

    @property
    def arrow_fs(self) -> pafs.FileSystem:
        """The same filesystem for pyarrow readers and writers."""
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def display(self, *parts: str) -> str:
        """A path as the user would type it, scheme included."""
        if self.is_local:
            return self.path(*parts)
        return f"{self.protocol}://{self.path(*parts)}"


S3_ENDPOINT_URL_ENV = "TRAJECTORY_ASSETS_S3_ENDPOINT_URL"


def s3_options(endpoint_url: str | None, region: str | None = None) -> dict[str, Any]:
    """fsspec options for an S3-compatible endpoint; credentials stay with the AWS variables."""
    client_kwargs: dict[str, Any] = {}
    if endpoint_url:
        client_kwargs["endpoint_url"] = endpoint_url
    if region:
        client_kwargs["region_name"] = region
    return {"client_kwargs": client_kwargs} if client_kwargs else {}


def lake_from_env(uri: str) -> Lake:
    """A lake for the command line: an s3:// URI takes its endpoint from the environment."""
    if uri.startswith("s3://"):
        return Lake(uri, s3_options(os.environ.get(S3_ENDPOINT_URL_ENV)))
    return Lake(uri)
