"""A lake root URI becomes an fsspec filesystem, a root path, and the storage options delta-rs
takes for the same place: local disk or `s3://` (s3fs for files, delta-rs' own S3 client for
Delta tables, both configured from the same settings)."""

import contextlib
import errno
import io
import os
import posixpath
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trajectory_assets.errors import SettingError

S3_CLIENT_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 3}}
S3FS_ATTEMPTS = 2
"""A store that stops answering fails a command in about a minute and a half (6 attempts of
s3fs' 15 s read timeout, with backoff) rather than 7 minutes: s3fs retries each call 5 times
around botocore, which itself tries 5 times, so the attempts multiply. Two rounds of botocore's
standard retries (AWS' own default mode) still ride out throttling and dropped connections, and
s3fs' second round a body cut short, which botocore does not retry. A lake's
`config_kwargs` (botocore's `Config`) overrides the first."""
DELTA_RETRY_TIMEOUT = "90s"
"""delta-rs retries a request for 3 minutes by default; the same bound as s3fs' instead."""


@dataclass(frozen=True)
class Lake:
    """Where the lake lives. Picklable, so Ray tasks rebuild the filesystem on the worker."""

    uri: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.is_local and self.uri.strip():  # Ray's workers on another folder (a cluster's
            # started elsewhere) read a relative root from there: "a data file ... is gone"
            scheme = self.uri.split("://", 1)[0] + "://" if "://" in self.uri else ""
            object.__setattr__(self, "uri", scheme + self.root)
        # An empty root would be the current folder: raw files and tables written wherever the
        # process happens to run.
        if not self.uri.strip() or not (self.is_local or self.root.strip("/")):
            raise SettingError(
                f"the lake root {self.uri!r} names no folder: give a path or s3://bucket/prefix"
            )
        if "%" in self.root:  # delta-rs decodes %XX in a table's path, even in a file:// URL
            raise SettingError(
                f"the lake root {self.uri!r} holds a '%', which Delta Lake's reader takes for an "
                "escape (%20 as a space): its tables could not be opened; choose a path without %"
            )
        if self.protocol in ("s3", "s3a") and (problem := _object_store_problem(self.root)):
            raise SettingError(f"the lake root {self.uri!r} {problem}")

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
            options["config_kwargs"] = {**S3_CLIENT_CONFIG, **options.get("config_kwargs", {})}
            fs = fsspec.filesystem(self.protocol, **options)
            fs.retries = S3FS_ATTEMPTS  # a class attribute of s3fs, not an option
            return fs
        return fsspec.filesystem(self.protocol, **options)

    @property
    def arrow_fs(self) -> pafs.FileSystem:
        """The same filesystem for pyarrow readers and writers."""
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def sources(self, paths: list[str]) -> list[str | bytes | BaseException]:
        """What each file is read from: its path on local disk (pyarrow's default filesystem),
        its bytes (or the error fetching them) from an object store, all fetched concurrently
        in one call, since there each file costs round trips (a day of 265 raw files on a
        loopback S3: 4.9 s, against 9.9 s read through pyarrow eight at a time)."""
        if self.is_local:
            return list(paths)
        fetched: list[bytes | BaseException] = self.fs.cat_ranges(
            paths, None, None, on_error="return"
        )
        return list(fetched)

    def delta_options(self) -> dict[str, str]:
        """delta-rs storage options equivalent to the fsspec options of this lake.

        Credentials and region not given here come from the standard AWS variables, which
        delta-rs reads itself. A custom endpoint (MinIO, Ceph, a test server) commits with
        conditional PUTs on ETags, as delta-rs recommends for S3-compatible stores.
        """
        if self.protocol != "s3":
            return {}
        options: dict[str, str] = {}
        for ours, theirs in (
            ("key", "AWS_ACCESS_KEY_ID"),
            ("secret", "AWS_SECRET_ACCESS_KEY"),
            ("token", "AWS_SESSION_TOKEN"),
        ):
            if self.storage_options.get(ours):
                options[theirs] = str(self.storage_options[ours])
        client = self.storage_options.get("client_kwargs", {})
        endpoint = client.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["AWS_ENDPOINT_URL"] = endpoint
            options["conditional_put"] = "etag"
            if endpoint.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        options["retry_timeout"] = DELTA_RETRY_TIMEOUT
        region = client.get("region_name") or os.environ.get("AWS_REGION")
        options["AWS_REGION"] = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return options

    def display(self, *parts: str) -> str:
        """A path as the user would type it, scheme included (and as delta-rs takes it)."""
        return self.display_path(self.path(*parts))

    def display_path(self, path: str) -> str:
        """`display` of a path that `path` gave (or a listing of the lake's filesystem)."""
        return path if self.is_local else f"{self.protocol}://{path}"


BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")


def _object_store_problem(root: str) -> str | None:
    """A root an object store would take differently from Delta Lake: the files' client keeps
    `a/../b` and `a//b` as they are, delta-rs makes them `b` and `a/b` (a run's commits landed
    in another lake's tables); or a bucket no store names."""
    bucket, *parts = root.split("/")
    if not BUCKET.fullmatch(bucket):
        return (
            f"names the bucket {bucket!r}, which no S3 store holds: 3 to 255 letters, digits, "
            "dots, hyphens and underscores"
        )
    if any(part in ("", ".", "..") for part in parts):
        return "holds an empty, '.' or '..' part: give the prefix as s3://bucket/a/b"
    return None


S3_ENDPOINT_URL_ENV = "TRAJECTORY_ASSETS_S3_ENDPOINT_URL"


def s3_options(
    endpoint_url: str | None, region: str | None = None, setting: str = S3_ENDPOINT_URL_ENV
) -> dict[str, Any]:
    """fsspec options for an S3-compatible endpoint; credentials stay with the AWS variables."""
    client_kwargs: dict[str, Any] = {}
    if endpoint_url:
        parts = urllib.parse.urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise SettingError(
                f"{setting}={endpoint_url!r} is not a store's address: give its scheme, host and "
                "port alone, as http://127.0.0.1:9000 (the bucket goes in the lake's s3:// URI)"
            )
        client_kwargs["endpoint_url"] = endpoint_url
    if region:
        client_kwargs["region_name"] = region
    return {"client_kwargs": client_kwargs} if client_kwargs else {}


def lake_from_env(uri: str) -> Lake:
    """A lake for the command line: an s3:// URI takes its endpoint from the environment."""
    if uri.startswith("s3://"):
        return Lake(uri, s3_options(os.environ.get(S3_ENDPOINT_URL_ENV)))
    return Lake(uri)


STORE_CLIENTS = ("botocore.", "aiobotocore.", "aiohttp.", "s3fs.", "fsspec.")


def storage_failure(exc: BaseException) -> bool:
    """A write the lake's storage did not take: a file system's OSError, or an object store
    client's own error (botocore's EndpointConnectionError is no OSError), or one raised from
    either; not a mistake raised while handling one, nor a request the client refuses to send."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None or type(seen).__name__ == "ParamValidationError":
            return False
        if isinstance(seen, OSError) or type(seen).__module__.startswith(STORE_CLIENTS):
            return True
        seen = seen.__cause__
    return False


def modified(info: dict[str, Any]) -> float:
    """When a file last changed, from its fsspec info, whose keys and value types differ by
    filesystem."""
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def delete_lake(lake: Lake) -> None:
    """Every file of the lake, raw data and tables alike: only for a lake that can be made
    again (the sample lake of `demo --regenerate`)."""
    lake.fs.rm(lake.root, recursive=True)


def write_file_atomic(lake: Lake, path: str, data: bytes, *, durable: bool = True) -> None:
    """Readers see the whole file or nothing: a temp name and a rename locally, one PUT on S3.
    `durable`: on disk before the rename (what can be made again, a sample, skips the wait)."""
    if not lake.is_local:
        lake.fs.pipe_file(path, data)
        return
    folder, name = posixpath.split(path)
    created = _make_folders(folder)
    tmp = posixpath.join(folder, f".{name}.tmp-{uuid.uuid4().hex}")  # listings pass over it
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: a retried write must not leave a file each time
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if durable:  # the rename and any new folder are entries of their parents, on disk only
        for changed in [folder, *(posixpath.dirname(made) for made in created)]:
            _sync_folder(changed)


def _make_folders(folder: str) -> list[str]:
    """The folders made for `folder`, outermost first."""
    missing: list[str] = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        folder = posixpath.dirname(folder)
    if missing:
        os.makedirs(missing[0], exist_ok=True)
    return missing[::-1]


def _sync_folder(folder: str) -> None:
    """Once a folder is synced, a power loss keeps the names written in it."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    except OSError as exc:  # a file system that syncs no folder: the write itself landed
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(handle)


def read_source(source: str | bytes | BaseException, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file from what `Lake.sources` gave for it; a failed fetch is raised here."""
    if isinstance(source, BaseException):
        raise source
    readable = pa.BufferReader(source) if isinstance(source, bytes) else source
    return read_raw_parquet(readable, columns=columns)


def read_raw_parquet(where: Any, **options: Any) -> pa.Table:
    """`pq.read_table` of a raw file, its Spark INT96 times read in microseconds (what a raw
    `ts` is): Arrow's default, nanoseconds, overflowed a time outside 1677-2262 into another
    without a word (2500 read as 1915)."""
    return pq.read_table(where, coerce_int96_timestamp_unit="us", **options)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
