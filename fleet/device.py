"""The device's side of the cloud, from its credential bundle alone (what the agent builds on).

`Device(bundle_dir).credentials()` exchanges the device certificate for temporary AWS credentials
at the IoT credential provider (mutual TLS, `x-amzn-iot-thingname`), and `client(service)` gives a
boto3 client using them — S3 to fetch packages and upload captures, `iot-jobs-data` to take and
report jobs.  `fetch_package(job_document)` downloads a job's package and accepts it only if the
sha256 matches the job and the signature and every hash check against the fleet key in the bundle.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from edgec.errors import EdgecError

from . import bundle, package


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

    def fetch_package(self, document: dict) -> tuple[bytes, dict]:
        """(package bytes, manifest) of a `new_model` job, refused unless it checks out completely."""
        data = self.client("s3").get_object(Bucket=document["model_package_bucket"], Key=document["model_package_key"])["Body"].read()
        where = f"s3://{document['model_package_bucket']}/{document['model_package_key']}"
        if hashlib.sha256(data).hexdigest() != document.get("model_package_sha256"):
            raise DeviceError("package sha256 differs from the job document's", where=where)
        key_file = self.dir / self.config["sagemaker_edge_core_root_certs_path"] / bundle.SIGNING_KEY
        key = serialization.load_pem_public_key(key_file.read_bytes())
        manifest = package.check_members(package.read_members(data, where), key, where)
        return data, manifest
