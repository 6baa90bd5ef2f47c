"""The local cloud: moto's AWS on 127.0.0.1 plus the device-side endpoints moto lacks, on one state.

Two listeners:
- HTTP (`endpoint_url`): moto's own dispatcher app (what `moto_server`/ThreadedMotoServer serve),
  wrapped so that requests signed for `iot-jobs-data` go to `JobsData` (the IoT Jobs data plane),
  IoT control-plane requests run under one lock with `JobsData.sync` before and after them (so
  `describe_job` sees group expansion, cancels, aborts and counts), and `DescribeEndpoint` for
  `iot:CredentialProvider` names the TLS listener.  `GET /edgec-local/credentials-ca.pem` serves
  the TLS listener's certificate, so `edgec fleet register` can put it in device bundles.
- HTTPS with client certificates (`credentials_endpoint`): the IoT credential provider
  (credprovider.py).
With a state directory (cloudstate.py) everything moto holds, the ports and the credential
listener's certificate survive a restart; CloudWatch alarms are evaluated on moto's metrics
(alarms.py) every half second.
We serve moto's dispatcher ourselves instead of starting ThreadedMotoServer because its WSGI app
cannot be wrapped from outside; the backends are moto's module-level state either way.
Against real AWS none of this runs.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..compiler.errors import EdgecError

from .cloudstate import SharedLock, StateDir
from .credprovider import CredentialProvider
from .jobsdata import JobsData, JobsError, error_body

CA_ROUTE = "/edgec-local/credentials-ca.pem"
_JOBS = re.compile(r"^/things/([^/]+)/jobs/?$")
_JOB = re.compile(r"^/things/([^/]+)/jobs/([^/]+)/?$")


def _scope(auth: str) -> tuple:
    """(service, region, access key) from a SigV4 Authorization header, or Nones."""
    m = re.search(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request", auth or "")
    return (m.group(3), m.group(2), m.group(1)) if m else (None, None, None)


def _server_cert(directory: str, host: str) -> tuple[str, str]:
    """A self-signed certificate for the TLS listener (it is also the CA devices trust for it).
    One already in `directory` (a kept state) is used again while it names `host` and is valid for a
    week more, so the devices that trust it keep trusting the listener."""
    cert_file, key_file = os.path.join(directory, "credentials-ca.pem"), os.path.join(directory, "credentials.key")
    try:
        with open(cert_file, "rb") as f:
            old = x509.load_pem_x509_certificate(f.read())
        names = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        named = host in [str(v) for v in names.get_values_for_type(x509.IPAddress)] + names.get_values_for_type(x509.DNSName)
        if named and os.path.exists(key_file) and \
                old.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7):
            return cert_file, key_file
    except (OSError, ValueError, x509.ExtensionNotFound):
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "edgec local cloud credentials")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.DNSName("localhost")]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def _reply(start_response, status: int, body: bytes, ctype="application/json", headers=()):
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    start_response(f"{status} {reason}", [("Content-Type", ctype), ("Content-Length", str(len(body))), *headers])
    return [body]


class CloudApp:
    """WSGI: moto, plus the jobs data plane and the endpoint/CA answers described above."""

    def __init__(self, moto_app, cloud: "LocalCloud"):
        self.moto, self.cloud = moto_app, cloud

    def __call__(self, environ, start_response):
        with self.cloud.state_lock.shared():
            self.cloud.dirty = True
            return self._call(environ, start_response)

    def _call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == CA_ROUTE:
            return _reply(start_response, 200, self.cloud.ca_pem, "application/x-pem-file")
        service, region, access_key = _scope(environ.get("HTTP_AUTHORIZATION"))
        if service == "iot-jobs-data":
            return self._jobs(environ, start_response, self._backend(region, access_key))
        if service in ("iot", "execute-api"):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if path == "/endpoint" and query.get("endpointType") == ["iot:CredentialProvider"]:
                body = json.dumps({"endpointAddress": self.cloud.credentials_endpoint}).encode()
                return _reply(start_response, 200, body)
            return self._iot(environ, start_response, self._backend(region, access_key))
        return self._whole(environ, start_response)

    def _whole(self, environ, start_response):
        """moto's answer read whole, so no state is touched after the lock is given back."""
        result = self.moto(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            getattr(result, "close", lambda: None)()

    def _backend(self, region, access_key):
        from moto.iam.models import get_account_id_from
        from moto.iot.models import iot_backends
        return iot_backends[get_account_id_from(access_key or "")][region or "us-east-1"]

    def _iot(self, environ, start_response, be):
        """A control-plane call through moto, with the jobs rules applied before and after it."""
        captured, chunks = {}, []

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        with self.cloud.lock:
            self.cloud.jobs.sync(be)
            result = self.moto(environ, capture)
            try:
                chunks.extend(result)
            finally:
                getattr(result, "close", lambda: None)()
            self.cloud.jobs.sync(be)
        start_response(captured["status"], captured["headers"])
        return [b"".join(chunks)]

    def _jobs(self, environ, start_response, be):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(size) if size else b""
            body = json.loads(raw) if raw.strip() else {}
            with self.cloud.lock:
                self.cloud.jobs.sync(be)
                out = self._route(be, method, path, query, body)
                self.cloud.jobs.sync(be)
        except JobsError as e:
            return _reply(start_response, e.status, error_body(e), headers=[("x-amzn-ErrorType", e.code)])
        except ValueError:
            e = JobsError(400, "InvalidRequestException", "the request body is not JSON")
            return _reply(start_response, e.status, error_body(e), headers=[("x-amzn-ErrorType", e.code)])
        return _reply(start_response, 200, json.dumps(out).encode())

    def _route(self, be, method, path, query, body):
        jobs, many, one = self.cloud.jobs, _JOBS.match(path), _JOB.match(path)
        if many and method == "GET":
            return jobs.pending(be, many.group(1))
        if one and method == "PUT" and one.group(2) == "$next":
            return jobs.start_next(be, one.group(1), body)
        if one and method == "GET":
            return jobs.describe(be, one.group(1), one.group(2), query.get("includeJobDocument") == "true",
                                 query.get("executionNumber"))
        if one and method == "POST":
            return jobs.update(be, one.group(1), one.group(2), body)
        raise JobsError(404, "ResourceNotFoundException", f"no route {method} {path}")


def _QuietHandler():
    """werkzeug's request handler without its per-request access log line."""
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass
    return Quiet


class _Both:
    """The jobs lock inside a shared hold of the state lock: what the credential provider takes, as
    it reads certificates and issues STS credentials (a change no snapshot may see half done)."""

    def __init__(self, cloud: "LocalCloud"):
        self.cloud, self.holds = cloud, threading.local()

    def __enter__(self):
        hold = self.cloud.state_lock.shared()
        hold.__enter__()
        self.holds.__dict__.setdefault("stack", []).append(hold)
        self.cloud.lock.acquire()

    def __exit__(self, *exc):
        self.cloud.lock.release()
        self.holds.stack.pop().__exit__(*exc)
        self.cloud.dirty = True


class LocalCloud:
    """Start/stop the two listeners; usable as a context manager.  `state_dir` None: nothing kept."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, credentials_port: int = 0, minute: float = 60.0,
                 state_dir: str | None = None):
        self.host, self.port, self.credentials_port, self.minute = host, port, credentials_port, minute
        self.lock = threading.RLock()
        self.state_lock, self.dirty, self.state, self.restored = SharedLock(), False, None, []
        self.jobs = JobsData(minute)
        self._state_dir = state_dir
        self._stop = threading.Event()
        self._threads, self._http, self._cred, self._sock, self._dir = [], None, None, None, None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self._http.port}"

    @property
    def credentials_endpoint(self) -> str:
        return f"{self.host}:{self._cred.server_address[1]}"

    def start(self) -> "LocalCloud":
        try:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
            from werkzeug.serving import make_server
        except ImportError:
            raise EdgecError("the local cloud needs moto's server", hint="pip install 'moto[server]' (or edgec[cloud])") from None
        if self._state_dir is not None:
            self.state = StateDir(self._state_dir)
            try:
                self.restored = self.state.load()
            except EdgecError:
                self.state.close()
                raise
            recorded = self.state.ports()
            self.port = self.port or int(recorded.get("port") or 0)
            self.credentials_port = self.credentials_port or int(recorded.get("credentials_port") or 0)
            self._dir = str(self.state.path)
        else:
            self._dir = tempfile.mkdtemp(prefix="edgec-cloud-")
        self.ca_file, key_file = _server_cert(self._dir, self.host)
        with open(self.ca_file, "rb") as f:
            self.ca_pem = f.read()
        try:
            self._cred = CredentialProvider((self.host, self.credentials_port), self.ca_file, key_file, _Both(self))
            # bound here, not by werkzeug, whose bind failure prints and exits the process
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._sock = socket.create_server((self.host, self.port), family=family)
        except OSError as e:
            self.stop()
            kept = " (the ports this state was served on, which its devices use)" if self.state is not None else ""
            raise EdgecError(f"cannot listen on {self.host} port {self.port or 'any'}/{self.credentials_port or 'any'}{kept}: {e.strerror}",
                             hint="free the ports, or choose others (0: any free port)") from None
        self._http = make_server(self.host, self._sock.getsockname()[1], CloudApp(DomainDispatcherApplication(create_backend_app), self),
                                 threaded=True, request_handler=_QuietHandler(), fd=self._sock.fileno())
        if self.state is not None:
            self.state.save_ports(port=self._http.port, credentials_port=self._cred.server_address[1])
        for target in (self._http.serve_forever, self._cred.serve_forever, self._upkeep):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _upkeep(self) -> None:
        """Every half second: evaluate CloudWatch alarms; keep the state if requests changed it."""
        from .alarms import evaluate_all
        saved = 0.0
        while not self._stop.wait(0.5):
            try:
                with self.state_lock.shared(), self.lock:
                    if evaluate_all(time.time(), self.minute / 60.0):
                        self.dirty = True
                if time.monotonic() - saved >= 1.0:       # at most once a second
                    self.save()
                    saved = time.monotonic()
            except Exception as e:                       # a full disk: say so, keep serving
                print(f"edgec local cloud: {type(e).__name__}: {e}", file=sys.stderr)

    def save(self) -> None:
        if self.state is not None and self.dirty:
            with self.state_lock.exclusive():
                self.state.save()
                self.dirty = False                       # only once written: a failed save is tried again

    def stop(self) -> None:
        self._stop.set()
        for server in (self._http, self._cred):
            if server is not None:
                if self._threads:
                    server.shutdown()
                server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._sock is not None:
            self._sock.close()
        if self.state is not None:
            try:
                self.save()
            finally:
                self.state.close()
                self.state = None
        elif self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
