"""One writer per (operator, day): a lease file in the day's staging folder.

A second writer finds a live lease and refuses with a message naming the holder. A writer that
died leaves a lease that stops being renewed; once it expires (or, on the same host, once its
process is gone) the next writer takes it over. Dagster's pool limit is the first line of
defence; the lease also covers writers outside one Dagster instance (two CLIs, two deployments).
"""

import contextlib
import datetime as dt
import json
import os
import posixpath
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trajectory_assets.lake.commit import STAGING, write_file_atomic
from trajectory_assets.lake.fs import Lake

LEASE = "_lease.json"
DEFAULT_TTL_S = 120.0


class LeaseHeldError(RuntimeError):
    """Another live writer holds the (operator, day)."""


@dataclass(frozen=True)
class Lease:
    lake: Lake
    group: str
    day: str
    owner: str
    ttl_s: float

    @property
    def path(self) -> str:
        return self.lake.path(STAGING, self.group, f"dt={self.day}", LEASE)

    def record(self) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        return {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "renewed_at": now.isoformat(),
            "expires_at": (now + dt.timedelta(seconds=self.ttl_s)).isoformat(),
        }


def _read(lake: Lake, path: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(lake.fs.cat_file(path).decode())
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {}  # unreadable: treat as expired
    return data


def _is_live(holder: dict[str, Any]) -> bool:
    expires = holder.get("expires_at")
    if not expires or dt.datetime.fromisoformat(expires) <= dt.datetime.now(dt.UTC):
        return False
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return False  # its process is gone: no need to wait for the expiry
        except PermissionError:
            return True
    return True


def _create_exclusive(lease: Lease) -> bool:
    """Write the lease only if no lease file exists: O_EXCL locally, a best effort on S3."""
    data = json.dumps(lease.record()).encode()
    lake = lease.lake
    lake.fs.makedirs(posixpath.dirname(lease.path), exist_ok=True)
    if lake.is_local:
        try:
            fd = os.open(lease.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True
    if lake.fs.exists(lease.path):
        return False
    lake.fs.pipe_file(lease.path, data)
    return (_read(lake, lease.path) or {}).get("owner") == lease.owner


def acquire(lake: Lake, group: str, day: str, owner: str, ttl_s: float = DEFAULT_TTL_S) -> Lease:
    lease = Lease(lake, group, day, owner, ttl_s)
    for _ in range(3):
        if _create_exclusive(lease):
            return lease
        holder = _read(lake, lease.path)
        if holder is None:
            continue  # released between our two looks
        if holder.get("owner") == owner:
            write_file_atomic(lake, lease.path, json.dumps(lease.record()).encode())
            return lease
        if _is_live(holder):
            raise LeaseHeldError(
                f"{group} dt={day} is being written by {holder.get('owner')} "
                f"(pid {holder.get('pid')} on {holder.get('host')}, lease renewed "
                f"{holder.get('renewed_at')}, expires {holder.get('expires_at')}); "
                "wait for it to finish, or for the lease to expire if that writer died"
            )
        # stale: move it aside under a unique name (only one taker succeeds), then retry
        aside = f"{lease.path}.stale-{uuid.uuid4().hex}"
        try:
            lake.fs.mv(lease.path, aside)
            lake.fs.rm(aside)
        except FileNotFoundError:
            pass
    raise LeaseHeldError(f"{group} dt={day}: could not take the writer lease after 3 tries")


def release(lease: Lease) -> None:
    holder = _read(lease.lake, lease.path)
    if holder is not None and holder.get("owner") == lease.owner:
        lease.lake.fs.rm(lease.path)
        if lease.lake.is_local:  # leave no empty day folder behind (object stores have none)
            with contextlib.suppress(OSError):  # not empty: something is staged there
                os.rmdir(posixpath.dirname(lease.path))


@contextmanager
def held(
    lake: Lake, group: str, days: list[str], owner: str, ttl_s: float = DEFAULT_TTL_S
) -> Iterator[list[Lease]]:
    """Hold the leases of every day for the duration of a run, renewing them in the background."""
    leases: list[Lease] = []
    try:
        for day in days:
            leases.append(acquire(lake, group, day, owner, ttl_s))
    except BaseException:
        for lease in leases:
            release(lease)
        raise
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl_s / 3):
            for lease in leases:
                write_file_atomic(lake, lease.path, json.dumps(lease.record()).encode())

    thread = threading.Thread(target=renew, name="lease-renewal", daemon=True)
    thread.start()
    try:
        yield leases
    finally:
        stop.set()
        thread.join()
        for lease in leases:
            release(lease)
