"""`edgec fleet create` and `edgec fleet register`: Edge Manager's device fleet, built on IoT.

A fleet is an IoT thing group (attributes: `edgec_fleet`, bucket, capture output, role alias, the
trusted package key id) with a thing type, an IAM role the devices' credentials come from, the role
alias `SageMakerEdge-<fleet>` the credential provider exchanges certificates for, and one IoT
policy for its devices.  Every step first looks for what exists, so a re-run with the same
arguments changes nothing and a re-run after a failure finishes the job; a conflicting re-run
(another bucket, another key) is refused instead of silently changing a fleet.  The thing group
is made last: a fleet is visible only once it is complete.
"""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from ..compiler.errors import EdgecError

from . import bundle
from ..package import signing
from .aws import Cloud, Progress, aws_step, error_code, names
from .localcloud import CA_ROUTE
from ..package.archive import NAME_RE

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DEVICE_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9_])*$")


def check_fleet_name(fleet: str) -> None:
    if not NAME_RE.match(fleet or "") or len(fleet) > 40:
        raise EdgecError(f"fleet name '{fleet}' is not allowed", hint="use up to 40 letters, digits and single hyphens")


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def parse_output(bucket: str, output: str | None) -> str:
    """The capture prefix inside the fleet bucket, from `s3://bucket/prefix` (default: capture)."""
    if not output:
        return "capture"
    m = re.match(r"^s3://([^/]+)/?(.*)$", output)
    if not m or m.group(1) != bucket:
        raise EdgecError(f"output '{output}' is not s3://{bucket}/PREFIX", hint="captures go to the fleet's bucket")
    return m.group(2).strip("/") or "capture"


def fleet_info(cloud: Cloud, fleet: str) -> dict:
    """The fleet's thing group attributes; refuses a group that is not an edgec fleet."""
    check_fleet_name(fleet)
    iot = cloud.client("iot")
    with aws_step(f"describe fleet {fleet}"):
        g = existing(lambda: iot.describe_thing_group(thingGroupName=names(fleet)["thing_group"]), ("ResourceNotFoundException",))
    if g is None:
        raise EdgecError(f"no fleet '{fleet}'", hint=f"create it with `edgec fleet create {fleet} --bucket B --pubkey KEY`")
    attrs = g.get("thingGroupProperties", {}).get("attributePayload", {}).get("attributes", {})
    if attrs.get("edgec_fleet") != "1":
        raise EdgecError(f"thing group '{fleet}' exists but is not an edgec fleet", hint="choose another fleet name")
    return {**attrs, "thing_group_arn": g["thingGroupArn"]}


def _role_policies(fleet: str, bucket: str, prefix: str, region: str) -> tuple[dict, dict]:
    p = partition(region)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "credentials.iot.amazonaws.com"}}]}
    access = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:{p}:s3:::{bucket}/models/*", f"arn:{p}:s3:::{bucket}/fleets/{fleet}/*"]},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"arn:{p}:s3:::{bucket}/{prefix}/*"]},
        {"Effect": "Allow", "Action": ["iot:DescribeJobExecution", "iot:GetPendingJobExecutions",
                                       "iot:StartNextPendingJobExecution", "iot:UpdateJobExecution",
                                       "iot:GetThingShadow", "iot:UpdateThingShadow"],     # the agent's heartbeat
         "Resource": [f"arn:{p}:iot:{region}:*:thing/*"]}]}
    return trust, access


def _device_policy(alias_arn: str) -> dict:
    base = alias_arn.split(":rolealias/")[0]          # arn:PARTITION:iot:REGION:ACCOUNT
    thing = "${iot:Connection.Thing.ThingName}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": alias_arn},
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{base}:client/{thing}"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": f"{base}:topic/$aws/things/{thing}/jobs/*"},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{base}:topicfilter/$aws/things/{thing}/jobs/*"}]}


def existing(call, missing_codes) -> dict | None:
    """call() or None when AWS says the resource does not exist."""
    from botocore.exceptions import ClientError
    try:
        return call()
    except ClientError as e:
        if error_code(e) in missing_codes:
            return None
        raise


def create_fleet(cloud: Cloud, fleet: str, bucket: str, pubkey: str, output: str | None = None,
                 role_arn: str | None = None) -> dict:
    check_fleet_name(fleet)
    if not BUCKET_RE.match(bucket or ""):
        raise EdgecError(f"'{bucket}' is not a valid S3 bucket name")
    prefix = parse_output(bucket, output)
    key = signing.load_public(pubkey)
    kid, key_pem = signing.key_id(key), signing.public_pem(key)
    n, iot, s3, iam = names(fleet), cloud.client("iot"), cloud.client("s3"), cloud.client("iam")
    want = {"edgec_fleet": "1", "bucket": bucket, "output": f"s3://{bucket}/{prefix}", "role_alias": n["role_alias"],
            "package_key_id": kid, "thing_type": n["thing_type"]}
    progress = Progress()
    with aws_step("look up the fleet's thing group", progress):
        group = existing(lambda: iot.describe_thing_group(thingGroupName=n["thing_group"]), ("ResourceNotFoundException",))
    if group is not None:
        attrs = group.get("thingGroupProperties", {}).get("attributePayload", {}).get("attributes", {})
        if attrs.get("edgec_fleet") != "1":
            raise EdgecError(f"thing group '{fleet}' exists but is not an edgec fleet", hint="choose another fleet name")
        diff = [k for k in want if attrs.get(k) != want[k]]
        if diff:
            k = diff[0]
            raise EdgecError(f"fleet '{fleet}' exists with {k} {attrs.get(k)!r}, not {want[k]!r}",
                             hint="re-run with the fleet's original arguments, or create another fleet")
    with aws_step(f"bucket {bucket}", progress):
        from botocore.exceptions import ClientError
        try:
            s3.head_bucket(Bucket=bucket)
            progress.add("exists", "bucket", bucket)
        except ClientError as e:
            if error_code(e) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            kw = {} if cloud.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": cloud.region}}
            s3.create_bucket(Bucket=bucket, **kw)
            progress.add("created", "bucket", bucket)
    with aws_step("the fleet's package key", progress):
        old = existing(lambda: s3.get_object(Bucket=bucket, Key=n["key_object"])["Body"].read(), ("NoSuchKey", "404"))
        if old is None:
            s3.put_object(Bucket=bucket, Key=n["key_object"], Body=key_pem, ContentType="application/x-pem-file")
            progress.add("created", "object", f"s3://{bucket}/{n['key_object']}")
        elif old != key_pem:
            raise EdgecError(f"s3://{bucket}/{n['key_object']} holds another package key", hint="a fleet's trusted key is not replaced silently")
        else:
            progress.add("exists", "object", f"s3://{bucket}/{n['key_object']}")
    with aws_step(f"thing type {n['thing_type']}", progress):
        if existing(lambda: iot.describe_thing_type(thingTypeName=n["thing_type"]), ("ResourceNotFoundException",)) is None:
            iot.create_thing_type(thingTypeName=n["thing_type"],
                                  thingTypeProperties={"thingTypeDescription": f"edgec device of fleet {fleet}"})
            progress.add("created", "thing type", n["thing_type"])
        else:
            progress.add("exists", "thing type", n["thing_type"])
    trust, access = _role_policies(fleet, bucket, prefix, cloud.region)
    if role_arn:
        progress.add("given", "IAM role", role_arn)
    else:
        with aws_step(f"IAM role {n['role']}", progress):
            role = existing(lambda: iam.get_role(RoleName=n["role"]), ("NoSuchEntity",))
            if role is None:
                role = iam.create_role(RoleName=n["role"], AssumeRolePolicyDocument=json.dumps(trust),
                                       Description=f"credentials of edgec fleet {fleet}'s devices")
                progress.add("created", "IAM role", n["role"])
            else:
                progress.add("exists", "IAM role", n["role"])
            iam.put_role_policy(RoleName=n["role"], PolicyName="edgec-device-access", PolicyDocument=json.dumps(access))
            role_arn = role["Role"]["Arn"]
    with aws_step(f"role alias {n['role_alias']}", progress):
        alias = existing(lambda: iot.describe_role_alias(roleAlias=n["role_alias"]), ("ResourceNotFoundException",))
        if alias is None:
            alias_arn = iot.create_role_alias(roleAlias=n["role_alias"], roleArn=role_arn, credentialDurationSeconds=3600)["roleAliasArn"]
            progress.add("created", "role alias", n["role_alias"])
        else:
            desc = alias["roleAliasDescription"]
            if desc["roleArn"] != role_arn:
                raise EdgecError(f"role alias {n['role_alias']} points at {desc['roleArn']}, not {role_arn}")
            alias_arn = desc["roleAliasArn"]
            progress.add("exists", "role alias", n["role_alias"])
    with aws_step(f"IoT policy {n['policy']}", progress):
        if existing(lambda: iot.get_policy(policyName=n["policy"]), ("ResourceNotFoundException",)) is None:
            iot.create_policy(policyName=n["policy"], policyDocument=json.dumps(_device_policy(alias_arn)))
            progress.add("created", "IoT policy", n["policy"])
        else:
            progress.add("exists", "IoT policy", n["policy"])
    with aws_step(f"thing group {n['thing_group']}", progress):
        if group is None:
            group = iot.create_thing_group(thingGroupName=n["thing_group"], thingGroupProperties={
                "thingGroupDescription": f"edgec device fleet {fleet}", "attributePayload": {"attributes": want}})
            progress.add("created", "thing group", n["thing_group"])
        else:
            progress.add("exists", "thing group", n["thing_group"])
    return {"fleet": fleet, "bucket": bucket, "output": want["output"], "role_arn": role_arn, "role_alias": n["role_alias"],
            "role_alias_arn": alias_arn, "policy": n["policy"], "thing_type": n["thing_type"], "package_key_id": kid,
            "thing_group_arn": group["thingGroupArn"], "steps": progress.steps}


def _credentials_ca(cloud: Cloud, ca_file: str | None) -> bytes:
    """What devices trust for the credential endpoint: --ca-file; the local cloud's; else the AWS roots."""
    if ca_file:
        try:
            return Path(ca_file).read_bytes()
        except OSError as e:
            raise EdgecError(f"cannot read CA file: {e.strerror}", where=ca_file) from None
    if cloud.endpoint_url:
        try:
            with urllib.request.urlopen(cloud.endpoint_url.rstrip("/") + CA_ROUTE, timeout=10) as r:
                pem = r.read()
        except (OSError, ValueError):
            pem = b""
        if b"BEGIN CERTIFICATE" not in pem:
            raise EdgecError(f"{cloud.endpoint_url} does not serve the credential endpoint's CA",
                             hint="pass --ca-file with the CA of its credential provider")
        return pem
    from botocore.httpsession import get_cert_path
    return Path(get_cert_path(True)).read_bytes()          # botocore's roots include the Amazon Root CAs


def _thing(iot, device: str, fleet: str, n: dict, progress: Progress) -> None:
    with aws_step(f"thing {device}", progress):
        thing = existing(lambda: iot.describe_thing(thingName=device), ("ResourceNotFoundException",))
        if thing is None:
            iot.create_thing(thingName=device, thingTypeName=n["thing_type"], attributePayload={"attributes": {"fleet": fleet}})
            progress.add("created", "thing", device)
        elif thing.get("attributes", {}).get("fleet", fleet) != fleet:
            raise EdgecError(f"device {device} belongs to fleet {thing['attributes']['fleet']}", hint="device names are account-wide")
        else:
            progress.add("exists", "thing", device)
        iot.add_thing_to_thing_group(thingGroupName=n["thing_group"], thingName=device)


def _certificate(iot, device: str, d: Path, n: dict, rotate: bool, progress: Progress) -> dict:
    """Reuse the bundle's active certificate, or issue (and attach) a new one."""
    with aws_step(f"certificate of {device}", progress):
        attached = [p for page in iot.get_paginator("list_thing_principals").paginate(thingName=device)
                    for p in page.get("principals", [])]
        info = bundle.read_device(d)
        if info and info.get("certificate_arn") in attached and not rotate:
            status = iot.describe_certificate(certificateId=info["certificate_id"])["certificateDescription"]["status"]
            if status == "ACTIVE":
                progress.add("exists", "certificate", info["certificate_id"])
                return info
        if attached and not rotate:
            raise EdgecError(f"device {device} already has certificate {attached[0].rsplit('/', 1)[-1][:12]}… but no usable bundle in {d}",
                             hint="copy its bundle there, or pass --rotate to issue a new certificate and deactivate the old")
        cert = iot.create_keys_and_certificate(setAsActive=True)
        bundle.write_keys(d, cert["certificatePem"], cert["keyPair"]["PrivateKey"])
        progress.add("created", "certificate", cert["certificateId"])
        iot.attach_policy(policyName=n["policy"], target=cert["certificateArn"])
        iot.attach_thing_principal(thingName=device, principal=cert["certificateArn"])
        for old in attached:
            if old != cert["certificateArn"] and ":cert/" in old:
                iot.update_certificate(certificateId=old.rsplit("/", 1)[-1], newStatus="INACTIVE")
                iot.detach_thing_principal(thingName=device, principal=old)
                iot.detach_policy(policyName=n["policy"], target=old)
                progress.add("deactivated", "certificate", old.rsplit("/", 1)[-1])
        return {"certificate_id": cert["certificateId"], "certificate_arn": cert["certificateArn"]}


def register_devices(cloud: Cloud, fleet: str, devices: list, out: str, ca_file: str | None = None,
                     rotate: bool = False) -> dict:
    info = fleet_info(cloud, fleet)
    bad = [d for d in devices if not DEVICE_RE.match(d) or len(d) > 64]
    if not devices or bad:
        raise EdgecError(f"device name {bad[0]!r} is not allowed" if bad else "no device names given",
                         hint="use letters, digits, '_' and single hyphens")
    n, iot, s3 = names(fleet), cloud.client("iot"), cloud.client("s3")
    progress = Progress()
    with aws_step("fleet key and credential endpoint", progress):
        signing_pub = s3.get_object(Bucket=info["bucket"], Key=n["key_object"])["Body"].read()
        cred_host = iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"]
    ca_pem = _credentials_ca(cloud, ca_file)
    credentials_url = f"https://{cred_host}/role-aliases/{n['role_alias']}/credentials"
    prefix = info["output"].split("/", 3)[3] if info["output"].count("/") >= 3 else "capture"
    results = []
    for device in devices:
        _thing(iot, device, fleet, n, progress)
        d = bundle.bundle_dir(out, device)
        cert = _certificate(iot, device, d, n, rotate, progress)
        thing_arn = iot.describe_thing(thingName=device)["thingArn"]
        agent = bundle.agent_config(device=device, fleet=fleet, region=cloud.region, bucket=info["bucket"], capture_prefix=prefix,
                                    credentials_url=credentials_url, endpoint_url=cloud.endpoint_url, role_alias=n["role_alias"])
        dev = {"thing_name": device, "thing_arn": thing_arn, "fleet": fleet, **cert}
        bundle.write_rest(d, agent=agent, device=dev, ca_pem=ca_pem, signing_pub=signing_pub)
        results.append({**dev, "bundle": str(d)})
    return {"fleet": fleet, "devices": results, "credentials_endpoint": credentials_url, "steps": progress.steps}
