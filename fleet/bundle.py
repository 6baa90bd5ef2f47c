"""A device's credential bundle: what `edgec fleet register` hands to each device.

  <out>/<device>/certificate.pem   the device certificate IoT issued
  <out>/<device>/private.key       its private key (mode 0600; the directory is 0700)
  <out>/<device>/root-ca.pem       CA of the credential endpoint's TLS certificate
  <out>/<device>/signing/package-signing.pub   the fleet's trusted package key
  <out>/<device>/agent.json        the agent configuration, with the retired Edge Manager agent's keys
  <out>/<device>/device.json       thing and certificate ids (how a re-run recognises the device)
Paths inside agent.json are relative to the bundle directory, so the bundle can be copied to the
device as a whole.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

CERT, KEY, CA, SIGNING_DIR, SIGNING_KEY = "certificate.pem", "private.key", "root-ca.pem", "signing", "package-signing.pub"
AGENT, DEVICE = "agent.json", "device.json"
#: The seed demo's capture settings (FLEET.md): buffer 30 requests, batches of 10, push every 4 s, 3 KB inline.
CAPTURE = {"sagemaker_edge_core_capture_data_destination": "Cloud", "sagemaker_edge_core_capture_data_disk_path": "capture",
           "sagemaker_edge_core_capture_data_buffer_size": 30, "sagemaker_edge_core_capture_data_batch_size": 10,
           "sagemaker_edge_core_capture_data_push_period_seconds": 4,
           "sagemaker_edge_core_capture_data_base64_embed_limit": 3072,
           "sagemaker_edge_core_capture_data_periodic_upload": True}


def _private_write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)                  # also when the file existed with wider rights
        f.write(data)


def bundle_dir(out: str, device: str) -> Path:
    d = Path(out) / device
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def write_keys(d: Path, cert_pem: str, key_pem: str) -> None:
    """Written the moment IoT returns them: a created certificate is never left without its key."""
    _private_write(d / KEY, key_pem.encode(), 0o600)
    (d / CERT).write_text(cert_pem)


def read_device(d: Path) -> dict | None:
    try:
        info = json.loads((d / DEVICE).read_text())
    except (OSError, ValueError):
        return None
    return info if (d / KEY).is_file() and (d / CERT).is_file() else None


def agent_config(*, device: str, fleet: str, region: str, bucket: str, capture_prefix: str,
                 credentials_url: str, endpoint_url: str | None, role_alias: str) -> dict:
    return {
        "sagemaker_edge_core_device_name": device,
        "sagemaker_edge_core_device_fleet_name": fleet,
        "sagemaker_edge_core_region": region,
        "sagemaker_edge_core_root_certs_path": SIGNING_DIR,
        "sagemaker_edge_provider_provider": "Aws",
        "sagemaker_edge_provider_aws_ca_cert_file": CA,
        "sagemaker_edge_provider_aws_cert_file": CERT,
        "sagemaker_edge_provider_aws_cert_pk_file": KEY,
        "sagemaker_edge_provider_aws_iot_cred_endpoint": credentials_url,
        "sagemaker_edge_provider_s3_bucket_name": bucket,
        "sagemaker_edge_core_folder_prefix": capture_prefix,
        **CAPTURE,
        "edgec_aws_endpoint_url": endpoint_url,          # None on AWS; the local cloud's URL otherwise
        "edgec_role_alias": role_alias,
        "edgec_thing_name": device,
    }


def write_rest(d: Path, *, agent: dict, device: dict, ca_pem: bytes, signing_pub: bytes) -> None:
    (d / CA).write_bytes(ca_pem)
    (d / SIGNING_DIR).mkdir(exist_ok=True)
    (d / SIGNING_DIR / SIGNING_KEY).write_bytes(signing_pub)
    (d / AGENT).write_text(json.dumps(agent, indent=2, sort_keys=True) + "\n")
    (d / DEVICE).write_text(json.dumps(device, indent=2, sort_keys=True) + "\n")
