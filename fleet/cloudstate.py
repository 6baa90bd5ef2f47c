"""The local cloud's state on disk: moto's backends, the listeners' ports and the TLS identity.

`edgec cloud serve --state DIR` (default `$XDG_DATA_HOME/edgec/cloud`, else
`~/.local/share/edgec/cloud`) keeps, in DIR (0700):
- `moto.pickle` (0600): every moto backend in use (IoT things, groups, certificates, policies, role
  aliases, jobs and their executions with the device-side fields JobsData adds, S3 buckets and
  objects, IAM, STS, IoT shadows, CloudWatch metrics and alarms), pickled in one piece so objects
  that refer to each other still do after a restart.  Written atomically (temp file + rename) at
  most once a second while requests change things, and on a clean stop: a kill -9 loses at most
  the last second.
- `cloud.json`: the ports last served.  A restart with port 0 takes them again, so device bundles
  (which name the credential endpoint) and `EDGEC_AWS_ENDPOINT` stay right; that a recorded port is
  taken is an error, not a silent move elsewhere.
- `credentials-ca.pem` / `credentials.key`: the credential listener's certificate, which device
  bundles trust, kept so devices keep trusting it.
- `lock`: held (flock) while a cloud serves the directory; a second one is refused.

Pickle is only ever read from this directory, which only its owner can write (0700): it is state
the cloud itself wrote, not input.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import threading
from pathlib import Path

from ..compiler.errors import EdgecError

STATE_FILE = "moto.pickle"
PORTS_FILE = "cloud.json"
FORMAT = 1


def default_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "edgec", "cloud")


class SharedLock:
    """Many requests at once (shared), or one snapshot with nothing changing (exclusive)."""

    def __init__(self):
        self._cond, self._readers, self._writer = threading.Condition(), 0, False

    def shared(self):
        return _Hold(self, False)

    def exclusive(self):
        return _Hold(self, True)

    def _acquire(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._cond.wait_for(lambda: not self._writer)
                self._writer = True
                self._cond.wait_for(lambda: self._readers == 0)
            else:
                self._cond.wait_for(lambda: not self._writer)
                self._readers += 1

    def _release(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._writer = False
            else:
                self._readers -= 1
            self._cond.notify_all()


class _Hold:
    def __init__(self, lock: SharedLock, exclusive: bool):
        self.lock, self.exclusive = lock, exclusive

    def __enter__(self):
        self.lock._acquire(self.exclusive)

    def __exit__(self, *exc):
        self.lock._release(self.exclusive)


def _backend_dicts() -> dict:
    """{service name: moto's module-level BackendDict} of every service moto has state in."""
    from moto.core.base_backend import BackendDict
    return {bd.service_name: bd for bd in list(BackendDict._instances)}


def snapshot() -> dict:
    """{service: {account: {region: backend}}}: plain dicts around moto's backend objects."""
    return {svc: {acct: dict(per.items()) for acct, per in list(bd.items())} for svc, bd in _backend_dicts().items()}


def restore(state: dict) -> list:
    """Put a snapshot's backends into moto's module-level BackendDicts; the services restored."""
    from moto.backends import get_backend
    done = []
    for svc, accounts in state.items():
        try:
            bd = get_backend(svc)
        except (KeyError, ValueError, ModuleNotFoundError):
            continue                                         # a service this moto no longer has
        for acct, regions in accounts.items():
            per = bd[acct]                                    # creates the account's backend dict
            for region, backend in regions.items():
                dict.__setitem__(per, region, backend)
        done.append(svc)
    return sorted(done)


class StateDir:
    """The directory, locked for one cloud; load and save of the backends and ports."""

    def __init__(self, path: str):
        self.path = Path(os.path.abspath(os.path.expanduser(path)))
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.path, 0o700)
            self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise EdgecError(f"cannot use state directory {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise EdgecError(f"state directory {self.path} is in use by another local cloud",
                             hint="stop that one, or pass another --state") from None
        self.dirty = False

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)                          # releases the flock
            self._lock_fd = None

    def ports(self) -> dict:
        try:
            return json.loads((self.path / PORTS_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def save_ports(self, **ports) -> None:
        self._write(PORTS_FILE, json.dumps(ports, sort_keys=True).encode())

    def load(self) -> list:
        """Restore moto's backends from the directory (nothing there: a new cloud); the services."""
        f = self.path / STATE_FILE
        if not f.exists():
            return []
        try:
            with open(f, "rb") as fh:
                data = pickle.load(fh)
        except Exception as e:                               # truncated, or written by another moto
            raise EdgecError(f"cannot read the local cloud's state {f}: {type(e).__name__}: {e}",
                             hint="move it aside to start from an empty cloud") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EdgecError(f"{f} is not a state file of this edgec", hint="move it aside to start from an empty cloud")
        return restore(data["backends"])

    def save(self) -> None:
        import moto
        self._write(STATE_FILE, pickle.dumps({"format": FORMAT, "moto": moto.__version__, "backends": snapshot()},
                                             protocol=pickle.HIGHEST_PROTOCOL))
        self.dirty = False

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.path / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path / name)
