"""The device's side of the cloud, from its credential bundle alone (what the agent builds on).

`Device(bundle_dir).credentials()` exchanges the device certificate for temporary AWS credentials
at the IoT credential provider (mutual TLS, `x-amzn-iot-thingname`), and `client(service)` gives a
boto3 client using them — S3 to fetch packages and upload captures, `iot-jobs-data` to take and
report jobs.  `fetch_package(job_document)` downloads a job's package to an unnamed temporary file
(at most MAX_PACKAGE_BYTES, or the job's own size), and accepts it only if the sha256 matches the job
and the package verifies against the fleet key in the bundle (package.verify_file: signature first,
then each file streamed up to its signed size); `sink` receives the verified files.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from ..compiler.errors import EdgecError

from . import bundle
from ..package import archive as package


#: The largest package a device downloads (a job document's model_package_size lowers it).
MAX_PACKAGE_BYTES = 512 << 20


class DeviceError(EdgecError):
    """The device could not get credentials or a package; the message says what the cloud answered."""


class Device:
    def __init__(self, bundle_dir: str):
        self.dir = Path(bundle_dir)
        try:
            self.config = json.loads((self.dir / bundle.AGENT).read_text())
        except (OSError, ValueError) as e:
            raise DeviceError(f"no readable {bundle.AGENT} ({e})", where=str(bundle_dir)) from None
        self.name = self.config["sagemaker_edge_core_device_name"]
        self._creds = None

    def path(self, key: str) -> str:
        return str(self.dir / self.config[key])

    def credentials(self) -> dict:
        """Temporary credentials for the fleet's role, in exchange for the device certificate."""
        url = urlsplit(self.config["sagemaker_edge_provider_aws_iot_cred_endpoint"])
        ctx = ssl.create_default_context(cafile=self.path("sagemaker_edge_provider_aws_ca_cert_file"))
        ctx.load_cert_chain(self.path("sagemaker_edge_provider_aws_cert_file"), self.path("sagemaker_edge_provider_aws_cert_pk_file"))
        conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=ctx, timeout=15)
        try:
            conn.request("GET", url.path, headers={"x-amzn-iot-thingname": self.config.get("edgec_thing_name", self.name)})
            r = conn.getresponse()
            body = r.read()
        except (OSError, ssl.SSLError) as e:
            raise DeviceError(f"credential provider refused the connection: {e}", where=url.netloc) from None
        finally:
            conn.close()
        if r.status != 200:
            try:
                message = json.loads(body).get("message", "")
            except ValueError:
                message = body[:200].decode(errors="replace")
            raise DeviceError(f"credential provider answered {r.status}: {message}", where=url.netloc)
        self._creds = json.loads(body)["credentials"]
        return self._creds

    def client(self, service: str):
        import boto3
        c = self._creds or self.credentials()
        kw = {"region_name": self.config["sagemaker_edge_core_region"], "aws_access_key_id": c["accessKeyId"],
              "aws_secret_access_key": c["secretAccessKey"], "aws_session_token": c["sessionToken"]}
        if self.config.get("edgec_aws_endpoint_url"):
            from botocore.config import Config
            kw["endpoint_url"] = self.config["edgec_aws_endpoint_url"]
            kw["config"] = Config(s3={"addressing_style": "path"})
        return boto3.client(service, **kw)

    def fetch_package(self, document: dict, sink=None, workdir=None, max_bytes: int = MAX_PACKAGE_BYTES) -> tuple[dict, dict]:
        """(verification result, manifest) of a `new_model` job's package, refused unless it checks out
        completely; the download goes to an unnamed file in `workdir` that disappears with it."""
        where = f"s3://{document['model_package_bucket']}/{document['model_package_key']}"
        size = document.get("model_package_size")
        if isinstance(size, int) and not isinstance(size, bool) and 0 < size < max_bytes:
            max_bytes = size
        obj = self.client("s3").get_object(Bucket=document["model_package_bucket"], Key=document["model_package_key"])
        body = obj["Body"]
        try:
            if int(obj.get("ContentLength") or 0) > max_bytes:
                raise DeviceError(f"package has {int(obj['ContentLength']):,} bytes, more than the {max_bytes:,} accepted", where=where)
            key_file = self.dir / self.config["sagemaker_edge_core_root_certs_path"] / bundle.SIGNING_KEY
            key = serialization.load_pem_public_key(key_file.read_bytes())
            with tempfile.TemporaryFile(dir=workdir) as f:
                h, n = hashlib.sha256(), 0
                for chunk in body.iter_chunks(64 << 10):
                    n += len(chunk)
                    if n > max_bytes:
                        raise DeviceError(f"package is longer than the {max_bytes:,} bytes accepted", where=where)
                    h.update(chunk)
                    f.write(chunk)
                if h.hexdigest() != document.get("model_package_sha256"):
                    raise DeviceError("package sha256 differs from the job document's", where=where)
                f.flush()
                f.seek(0)
                r = package.verify_file(f, where, lambda kid: key, sink)
        finally:
            body.close()
        return r, r["manifest"]
