"""boto3 sessions for the fleet commands, resource names, and AWS errors as one-line EdgecErrors.

`--endpoint-url` (or EDGEC_AWS_ENDPOINT) points every client at another endpoint, e.g. the local
cloud; region and profile resolve as the AWS CLI resolves them (--region, then AWS_REGION, then
AWS_DEFAULT_REGION, then the profile's).  A custom endpoint with no
credentials configured gets placeholder ones, because the local cloud does not check them.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..compiler.errors import EdgecError

ENDPOINT_ENV = "EDGEC_AWS_ENDPOINT"


class AwsError(EdgecError):
    """An AWS call failed; `facts['created']` lists what this command had created before it."""


@dataclass
class Progress:
    """What a multi-step command created or found, so a failure can say what exists."""
    steps: list = field(default_factory=list)

    def add(self, action: str, kind: str, name: str) -> None:
        self.steps.append({"action": action, "kind": kind, "name": name})

    def created(self) -> list:
        return [f"{s['kind']} {s['name']}" for s in self.steps if s["action"] == "created"]


@contextmanager
def aws_step(what: str, progress: Progress | None = None):
    """Turn botocore failures inside the block into an AwsError naming the step (and what exists)."""
    from botocore.exceptions import BotoCoreError, ClientError
    try:
        yield
    except ClientError as e:
        err = e.response.get("Error", {})
        _fail(f"{what}: {err.get('Code', '?')}: {err.get('Message') or e}", progress)
    except BotoCoreError as e:
        _fail(f"{what}: {e}", progress)
    except EdgecError as e:                       # a refusal mid-way: still say what exists
        if progress is None or "created" in e.facts:
            raise
        _fail(str(e), progress)


def _fail(message: str, progress: Progress | None):
    created = progress.created() if progress else []
    hint = f"created before the failure: {', '.join(created)}; re-run to finish" if created else None
    raise AwsError(message, hint=hint, facts={"created": created, "steps": progress.steps if progress else []}) from None


def error_code(e) -> str:
    return e.response.get("Error", {}).get("Code", "") if hasattr(e, "response") else ""


@dataclass
class Cloud:
    """Where the fleet lives: endpoint (None = AWS), region, profile."""
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None

    def __post_init__(self):
        import boto3
        from botocore.exceptions import ProfileNotFound
        self.endpoint_url = self.endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        try:
            # AWS_REGION before AWS_DEFAULT_REGION and the profile's, as the AWS CLI v2 and the SDKs read it
            # (botocore itself reads only AWS_DEFAULT_REGION)
            self.session = boto3.Session(profile_name=self.profile, region_name=self.region or os.environ.get("AWS_REGION") or None)
        except ProfileNotFound:
            raise AwsError(f"AWS profile '{self.profile}' not found", hint="see ~/.aws/config or drop --profile") from None
        self.region = self.session.region_name or ("us-east-1" if self.endpoint_url else None)
        if not self.region:
            raise AwsError("no AWS region", hint="pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
        self._local_creds = self.endpoint_url is not None and self.session.get_credentials() is None
        self._clients = {}

    def client(self, service: str):
        if service not in self._clients:
            kw = {"region_name": self.region}
            if self.endpoint_url:                        # a local endpoint: fail fast, path-style S3
                from botocore.config import Config
                kw["endpoint_url"] = self.endpoint_url
                kw["config"] = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                      s3={"addressing_style": "path"})
            if self._local_creds:
                kw.update(aws_access_key_id="edgec-local", aws_secret_access_key="edgec-local")
            self._clients[service] = self.session.client(service, **kw)
        return self._clients[service]


def names(fleet: str) -> dict:
    """AWS resource names of a fleet.  The role alias keeps Edge Manager's `SageMakerEdge-<fleet>`
    so IAM policies written for Edge Manager devices keep matching."""
    return {"thing_group": fleet, "thing_type": f"edgec-{fleet}", "role": f"edgec-{fleet}-device",
            "role_alias": f"SageMakerEdge-{fleet}", "policy": f"edgec-{fleet}-device",
            "key_object": f"fleets/{fleet}/package-signing.pub"}
