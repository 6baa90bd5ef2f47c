"""The IoT credential provider, `GET /role-aliases/<alias>/credentials` over mutual TLS, on moto's state.

A device proves who it is with the client certificate IoT issued it; in return it gets temporary
AWS credentials for the role behind the role alias (what AWS IoT's credentials endpoint does and
moto lacks).  Checks, in order, each refusal one JSON message:
  1. TLS: the client certificate must be one IoT has registered (any status), else the handshake
     fails.  IoT-issued certificates do not chain to a CA we hold, so each connection gets a
     context whose trust anchors are the registered certificates themselves (partial chains).
  2. the certificate is ACTIVE                                     -> else 403
  3. `x-amzn-iot-thingname`, when sent, names a thing attached to it -> else 403
  4. the role alias exists                                         -> else 404
  5. a policy attached to the certificate allows iot:AssumeRoleWithCertificate on the alias -> else 403
Then STS (moto's) assumes the alias's role for its credentialDurationSeconds.
"""
from __future__ import annotations

import fnmatch
import json
import re
import socketserver
import ssl
import sys
import threading
from datetime import timezone
from http.server import BaseHTTPRequestHandler

from cryptography import x509
from cryptography.hazmat.primitives import serialization

ROUTE = re.compile(r"^/role-aliases/([^/?]+)/credentials/?(\?.*)?$")


def _all_backends():
    from moto.iot.models import iot_backends
    for account in list(iot_backends.values()):
        for be in list(account.values()):
            yield be


_DER: dict = {}


def _der(pem: str) -> bytes | None:
    """DER of a registered certificate (cached); None if what was registered does not parse."""
    if pem not in _DER:
        try:
            _DER[pem] = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
        except (ValueError, TypeError):
            _DER[pem] = None
    return _DER[pem]


def _allows(policy_doc: str, action: str, resource: str) -> bool:
    """IoT policy evaluation, enough for this one action: an explicit Deny wins, else any Allow."""
    try:
        statements = json.loads(policy_doc).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    allowed = False
    for s in statements if isinstance(statements, list) else [statements]:
        actions = s.get("Action", [])
        resources = s.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(fnmatch.fnmatchcase(resource, r) for r in resources):
            if s.get("Effect") == "Deny":
                return False
            allowed = allowed or s.get("Effect") == "Allow"
    return allowed


class CredentialProvider(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, cert_file: str, key_file: str, lock: threading.RLock):
        self.cert_file, self.key_file, self.lock = cert_file, key_file, lock
        super().__init__(address, _Handler)

    def context(self) -> ssl.SSLContext:
        """A fresh server context trusting exactly the certificates IoT has registered right now."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        with self.lock:
            pems = [c.certificate_pem for be in _all_backends() for c in list(be.certificates.values())
                    if _der(c.certificate_pem) is not None]
        if pems:
            ctx.load_verify_locations(cadata="\n".join(pems))
        return ctx

    def handle_error(self, request, client_address):
        """Refused handshakes and dropped connections are the point, not noise; anything else is a bug."""
        err = sys.exc_info()[1]
        if not isinstance(err, (ssl.SSLError, ConnectionError, TimeoutError)):
            print(f"edgec local cloud: credential provider: {type(err).__name__}: {err}", file=sys.stderr)

    def credentials(self, peer_der: bytes, alias: str, thing: str | None) -> tuple[int, dict]:
        with self.lock:
            for be in _all_backends():
                for cert in list(be.certificates.values()):
                    if _der(cert.certificate_pem) == peer_der:
                        return self._for(be, cert, alias, thing)
        return 403, {"message": "the client certificate is not registered"}

    def _for(self, be, cert, alias: str, thing: str | None) -> tuple[int, dict]:
        if cert.status != "ACTIVE":
            return 403, {"message": f"certificate {cert.certificate_id[:12]} is {cert.status}"}
        if thing is not None and thing not in be.list_principal_things(cert.arn):
            return 403, {"message": f"thing {thing} is not attached to this certificate"}
        ra = be.role_aliases.get(alias)
        if ra is None:
            return 404, {"message": f"role alias {alias} does not exist"}
        if not any(_allows(p.document, "iot:AssumeRoleWithCertificate", ra.arn) for p in be.list_principal_policies(cert.arn)):
            return 403, {"message": f"no policy attached to the certificate allows iot:AssumeRoleWithCertificate on {ra.arn}"}
        from moto.sts.models import sts_backends
        session = re.sub(r"[^\w+=,.@-]", "-", thing or cert.certificate_id)[:64]
        role = sts_backends[be.account_id]["aws"].assume_role(
            region_name=be.region_name, role_session_name=session, role_arn=ra.role_arn, policy=None,
            duration=ra.credential_duration_seconds, external_id=None)
        expiration = role.expiration.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"credentials": {"accessKeyId": role.access_key_id, "secretAccessKey": role.secret_access_key,
                                     "sessionToken": role.session_token, "expiration": expiration}}


class _Handler(BaseHTTPRequestHandler):
    server: CredentialProvider
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.settimeout(15)
        self.request = self.server.context().wrap_socket(self.request, server_side=True)   # raises: refused
        super().setup()

    def log_message(self, format, *args):
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        m = ROUTE.match(self.path)
        if not m:
            return self._reply(404, {"message": f"no route {self.path}"})
        peer = self.connection.getpeercert(binary_form=True)
        self._reply(*self.server.credentials(peer, m.group(1), self.headers.get("x-amzn-iot-thingname")))
