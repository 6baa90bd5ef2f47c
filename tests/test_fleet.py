"""The fleet commands against the local cloud (`edgec cloud serve`, a separate process on 127.0.0.1),
talked to over HTTP exactly as AWS: boto3 for checks, the device side (mTLS credentials, IoT Jobs
data plane, S3) through each device's own credential bundle."""
import io
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config

from conftest import one_line_error, require
from edgec.cli.main import main
from edgec.package import archive as package, signing
from edgec.fleet.aws import Cloud
from edgec.fleet.device import Device, DeviceError
from edgec.fleet.provision import create_fleet, register_devices
from edgec.fleet.rollout import publish

EDGEC = [sys.executable, "-m", "edgec.cli.main"]
BUCKET = "edgec-ci"
FLEET_KEYS = {"sagemaker_edge_core_device_name", "sagemaker_edge_core_device_fleet_name", "sagemaker_edge_core_region",
              "sagemaker_edge_core_root_certs_path", "sagemaker_edge_provider_provider", "sagemaker_edge_provider_aws_ca_cert_file",
              "sagemaker_edge_provider_aws_cert_file", "sagemaker_edge_provider_aws_cert_pk_file",
              "sagemaker_edge_provider_aws_iot_cred_endpoint", "sagemaker_edge_provider_s3_bucket_name",
              "sagemaker_edge_core_capture_data_destination", "sagemaker_edge_core_capture_data_disk_path",
              "sagemaker_edge_core_folder_prefix", "sagemaker_edge_core_capture_data_buffer_size",
              "sagemaker_edge_core_capture_data_batch_size", "sagemaker_edge_core_capture_data_push_period_seconds",
              "sagemaker_edge_core_capture_data_base64_embed_limit", "sagemaker_edge_core_capture_data_periodic_upload"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """`edgec cloud serve` on free ports; an IoT Jobs minute lasts one second so timeouts show quickly.
    Its stderr goes to a file (a pipe nobody reads could fill and stall the server)."""
    d = tmp_path_factory.mktemp("cloud")
    log = d / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["cloud", "serve", "--port", "0", "--minute", "1", "--state", d / "state", "--json"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail(f"edgec cloud serve did not start: {log.read_text()}")
    yield json.loads(line)
    proc.terminate()
    assert proc.wait(timeout=10) == 143, log.read_text()   # stopped by SIGTERM, cleanly
    assert "Traceback" not in log.read_text() and "credential provider:" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def aws(cloud):
    cfg = Config(s3={"addressing_style": "path"})
    kw = dict(endpoint_url=cloud["endpoint_url"], region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=cfg)
    return {s: boto3.client(s, **kw) for s in ("iot", "s3", "iam", "iot-jobs-data")}


@pytest.fixture(scope="module")
def run(cloud):
    env = {**os.environ, "EDGEC_AWS_ENDPOINT": cloud["endpoint_url"]}
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)

    def edgec(*args, json_out=False, cwd=None):
        args = [str(a) for a in args] + (["--json"] if json_out and "--json" not in args else [])
        r = subprocess.run(EDGEC + args, capture_output=True, text=True, env=env, cwd=cwd)
        if json_out:
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)
        return r
    return edgec


@pytest.fixture(scope="module")
def cli(cloud):
    """The CLI's main() in this process, pointed at the cloud by EDGEC_AWS_ENDPOINT: same parsing,
    errors and output as `run`, without an interpreter start-up per call."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEC_AWS_ENDPOINT", cloud["endpoint_url"])
        for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.delenv(k, raising=False)

        def edgec(*args, json_out=False):
            args = [str(a) for a in args] + (["--json"] if json_out and "--json" not in args else [])
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main(args)
            if json_out:
                assert code == 0, err.getvalue()
                return json.loads(out.getvalue())
            return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
        yield edgec


@pytest.fixture(scope="module")
def fleet(built, tmp_path_factory, run):
    """Fleet `ci-fleet`: key pair, a package, create, three registered devices, published package."""
    require("cc")
    out, _, _ = built("digits_cnn")
    d = tmp_path_factory.mktemp("fleet")
    signing.generate(str(d / "keys"))                   # keygen and package have their CLI tests in test_package.py
    pkg = d / "kws-1.2.0.tar.gz"
    package.create(str(out), "kws", "1.2.0", str(d / "keys/signing.pem"), str(pkg))
    created = run("fleet", "create", "ci-fleet", "--bucket", BUCKET, "--pubkey", d / "keys/signing.pub",
                  "--output", f"s3://{BUCKET}/demo_capture", "--json", json_out=True)
    registered = run("fleet", "register", "ci-fleet", "ci-1", "ci-2", "ci-3", "--out", d / "devices", "--json", json_out=True)
    published = run("fleet", "publish", pkg, "--fleet", "ci-fleet", "--json", json_out=True)
    return {"dir": d, "out": out, "pkg": pkg, "created": created, "registered": registered, "published": published,
            "devices": {x["thing_name"]: x for x in registered["devices"]}}


def test_create_makes_the_fleet_and_a_rerun_changes_nothing(fleet, cli, aws):
    steps = {(s["kind"], s["name"]): s["action"] for s in fleet["created"]["steps"]}
    assert steps == {("bucket", BUCKET): "created", ("object", f"s3://{BUCKET}/fleets/ci-fleet/package-signing.pub"): "created",
                     ("thing type", "edgec-ci-fleet"): "created", ("IAM role", "edgec-ci-fleet-device"): "created",
                     ("role alias", "SageMakerEdge-ci-fleet"): "created", ("IoT policy", "edgec-ci-fleet-device"): "created",
                     ("thing group", "ci-fleet"): "created"}
    again = cli("fleet", "create", "ci-fleet", "--bucket", BUCKET, "--pubkey", fleet["dir"] / "keys/signing.pub",
                "--output", f"s3://{BUCKET}/demo_capture", "--json", json_out=True)
    assert {s["action"] for s in again["steps"]} == {"exists"} and len(again["steps"]) == len(steps)
    iot = aws["iot"]
    attrs = iot.describe_thing_group(thingGroupName="ci-fleet")["thingGroupProperties"]["attributePayload"]["attributes"]
    assert attrs == {"edgec_fleet": "1", "bucket": BUCKET, "output": f"s3://{BUCKET}/demo_capture",
                     "role_alias": "SageMakerEdge-ci-fleet", "package_key_id": fleet["created"]["package_key_id"],
                     "thing_type": "edgec-ci-fleet"}
    alias = iot.describe_role_alias(roleAlias="SageMakerEdge-ci-fleet")["roleAliasDescription"]
    assert alias["roleArn"] == aws["iam"].get_role(RoleName="edgec-ci-fleet-device")["Role"]["Arn"]
    policy = json.loads(iot.get_policy(policyName="edgec-ci-fleet-device")["policyDocument"])
    assert {"Effect": "Allow", "Action": "iot:AssumeRoleWithCertificate", "Resource": alias["roleAliasArn"]} in policy["Statement"]
    assert [t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]].count("edgec-ci-fleet") == 1
    one_line_error(cli("fleet", "create", "ci-fleet", "--bucket", "other-bucket", "--pubkey", fleet["dir"] / "keys/signing.pub"),
                   "exists with bucket")


def test_a_failure_midway_names_what_was_created_and_a_rerun_finishes(fleet, cli, aws):
    """A role alias of someone else's stops `create` half way: the error lists what exists so far,
    the fleet is not visible yet, and once the conflict is gone a re-run completes it."""
    iot = aws["iot"]
    other = aws["iam"].create_role(RoleName="someone-elses-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iot.create_role_alias(roleAlias="SageMakerEdge-half", roleArn=other)
    args = ("fleet", "create", "half", "--bucket", "edgec-half", "--pubkey", fleet["dir"] / "keys/signing.pub", "--json")
    r = cli(*args)
    one_line_error(r, "SageMakerEdge-half points at", "created before the failure", "IAM role edgec-half-device", "re-run")
    assert json.loads(r.stdout)["created"] == ["bucket edgec-half", "object s3://edgec-half/fleets/half/package-signing.pub",
                                               "thing type edgec-half", "IAM role edgec-half-device"]
    one_line_error(cli("fleet", "status", "half"), "no fleet 'half'")
    iot.delete_role_alias(roleAlias="SageMakerEdge-half")
    steps = {s["kind"]: s["action"] for s in cli(*args, json_out=True)["steps"]}
    assert steps == {"bucket": "exists", "object": "exists", "thing type": "exists", "IAM role": "exists",
                     "role alias": "created", "IoT policy": "created", "thing group": "created"}


def test_register_issues_active_certificates_and_bundles(fleet, cli, aws):
    iot = aws["iot"]
    members = {t for t in iot.list_things_in_thing_group(thingGroupName="ci-fleet")["things"]}
    assert members == {"ci-1", "ci-2", "ci-3"}
    for name, dev in fleet["devices"].items():
        b = fleet["dir"] / "devices" / name
        assert stat.S_IMODE(os.stat(b / "private.key").st_mode) == 0o600 and stat.S_IMODE(os.stat(b).st_mode) == 0o700
        cert = iot.describe_certificate(certificateId=dev["certificate_id"])["certificateDescription"]
        assert cert["status"] == "ACTIVE" and cert["certificatePem"] == (b / "certificate.pem").read_text()
        assert iot.list_thing_principals(thingName=name)["principals"] == [dev["certificate_arn"]]
        assert [p["policyName"] for p in iot.list_attached_policies(target=dev["certificate_arn"])["policies"]] == ["edgec-ci-fleet-device"]
        agent = json.loads((b / "agent.json").read_text())
        assert FLEET_KEYS <= set(agent)
        assert agent["sagemaker_edge_core_device_name"] == name and agent["sagemaker_edge_core_folder_prefix"] == "demo_capture"
        assert agent["sagemaker_edge_provider_aws_iot_cred_endpoint"].endswith("/role-aliases/SageMakerEdge-ci-fleet/credentials")
        for key in ("sagemaker_edge_provider_aws_ca_cert_file", "sagemaker_edge_provider_aws_cert_file", "sagemaker_edge_provider_aws_cert_pk_file"):
            assert (b / agent[key]).is_file()
    n_certs = len(iot.list_certificates()["certificates"])
    again = cli("fleet", "register", "ci-fleet", "ci-1", "ci-2", "ci-3", "--out", fleet["dir"] / "devices", "--json", json_out=True)
    assert [d["certificate_id"] for d in again["devices"]] == [fleet["devices"][n]["certificate_id"] for n in ("ci-1", "ci-2", "ci-3")]
    assert {s["action"] for s in again["steps"]} == {"exists"} and len(iot.list_certificates()["certificates"]) == n_certs
    one_line_error(cli("fleet", "register", "ci-fleet", "ci-1", "--out", fleet["dir"] / "elsewhere"), "ci-1", "--rotate")
    one_line_error(cli("fleet", "register", "no-such-fleet", "dev-9", "--out", fleet["dir"] / "x"), "no fleet")


def test_a_published_version_is_never_replaced(fleet, cli, aws, tmp_path):
    pub = fleet["published"]
    assert pub["key"] == "models/kws/1.2.0/kws-1.2.0.tar.gz" and pub["published"] == "new"
    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix="models/kws/1.2.0/")["Contents"]}
    assert keys == {"models/kws/1.2.0/kws-1.2.0.tar.gz", "models/kws/1.2.0/manifest.json", "models/kws/1.2.0/manifest.sig"}
    assert cli("fleet", "publish", fleet["pkg"], "--fleet", "ci-fleet", "--json", json_out=True)["published"].startswith("already")
    other = tmp_path / "out"                              # same name and version, other content, same trusted key
    shutil.copytree(fleet["out"], other)
    with open(other / "weights.c", "a") as f:
        f.write("/* rebuilt */\n")
    package.create(str(other), "kws", "1.2.0", str(fleet["dir"] / "keys/signing.pem"), str(tmp_path / "kws-1.2.0.tar.gz"))
    one_line_error(cli("fleet", "publish", tmp_path / "kws-1.2.0.tar.gz", "--fleet", "ci-fleet"), "already published with different content")
    body = aws["s3"].get_object(Bucket=BUCKET, Key=pub["key"])["Body"].read()
    assert body == fleet["pkg"].read_bytes()
    signing.generate(str(tmp_path / "rogue"))
    package.create(str(fleet["out"]), "kws", "1.3.0", str(tmp_path / "rogue/signing.pem"), str(tmp_path / "rogue.tar.gz"))
    one_line_error(cli("fleet", "publish", tmp_path / "rogue.tar.gz", "--fleet", "ci-fleet"), "not by the trusted key")


def _take_job(device: Device, outcome: str):
    """What an agent does: credentials by certificate, next job, package checked, status reported."""
    jobs = device.client("iot-jobs-data")
    ex = jobs.start_next_pending_job_execution(thingName=device.name)["execution"]
    doc = json.loads(ex["jobDocument"])
    _, manifest = device.fetch_package(doc)
    details = {"model_name": manifest["name"], "model_version": manifest["version"]} if outcome == "SUCCEEDED" else {"error": "load failed"}
    jobs.update_job_execution(thingName=device.name, jobId=ex["jobId"], status=outcome, statusDetails=details,
                              expectedVersion=ex["versionNumber"])
    return ex


def test_deploy_rolls_out_aborts_on_failures_and_status_shows_it(fleet, cli, aws):
    iot = aws["iot"]
    one_line_error(cli("fleet", "deploy", "ci-fleet", "--model", "kws", "--version", "9.9"), "not published")
    one_line_error(cli("fleet", "deploy", "ci-fleet", "--model", "kws", "--version", "1.2.0", "--abort-min-devices", "2"),
                   "--abort-failure-percent")
    args = ["fleet", "deploy", "ci-fleet", "--model", "kws", "--version", "1.2.0", "--rollout-rate", "10/min",
            "--abort-failure-percent", "50", "--abort-min-devices", "2", "--timeout-minutes", "30", "--json"]
    job = cli(*args, json_out=True)
    assert job["created"] and job["devices"] == 3
    assert cli(*args, json_out=True)["created"] is False                         # idempotent
    desc = iot.describe_job(jobId=job["job_id"])
    assert desc["job"]["abortConfig"] == {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50.0,
                                                             "minNumberOfExecutedThings": 2}]}
    assert desc["job"]["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 10}
    assert desc["job"]["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert desc["job"]["targets"] == [iot.describe_thing_group(thingGroupName="ci-fleet")["thingGroupArn"]]
    doc = json.loads(iot.get_job_document(jobId=job["job_id"])["document"])
    assert doc["type"] == "new_model" and doc["model_package_key"] == "models/kws/1.2.0/kws-1.2.0.tar.gz"
    assert doc["model_package_sha256"] == fleet["published"]["sha256"] and doc["model_signature"]["key_id"] == fleet["published"]["key_id"]
    executions = iot.list_job_executions_for_job(jobId=job["job_id"])["executionSummaries"]
    assert sorted(e["thingArn"].rsplit("/", 1)[-1] for e in executions) == ["ci-1", "ci-2", "ci-3"]
    for name in ("ci-1", "ci-2", "ci-3"):                                     # visible per device, queued
        mine = iot.list_job_executions_for_thing(thingName=name)["executionSummaries"]
        assert [(e["jobId"], e["jobExecutionSummary"]["status"]) for e in mine] == [(job["job_id"], "QUEUED")]
    devs = {n: Device(str(fleet["dir"] / "devices" / n)) for n in ("ci-1", "ci-2", "ci-3")}
    _take_job(devs["ci-1"], "SUCCEEDED")
    st = iot.describe_job(jobId=job["job_id"])["job"]
    assert st["status"] == "IN_PROGRESS" and st["jobProcessDetails"]["numberOfSucceededThings"] == 1
    _take_job(devs["ci-2"], "FAILED")                 # 1 of 2 finished devices failed: 50% >= 50% -> abort
    st = iot.describe_job(jobId=job["job_id"])["job"]
    assert st["status"] == "CANCELED" and "abortConfig" in st["comment"]
    counts = {k: v for k, v in st["jobProcessDetails"].items() if k.startswith("numberOf") and v}
    assert counts == {"numberOfSucceededThings": 1, "numberOfFailedThings": 1, "numberOfCanceledThings": 1}
    assert iot.describe_job_execution(jobId=job["job_id"], thingName="ci-3")["execution"]["status"] == "CANCELED"
    assert devs["ci-3"].client("iot-jobs-data").get_pending_job_executions(thingName="ci-3")["queuedJobs"] == []
    status = cli("fleet", "status", "ci-fleet", "--json", json_out=True)
    by = {d["name"]: d for d in status["devices"]}
    assert [e["status"] for e in by["ci-1"]["executions"]] == ["SUCCEEDED"]
    assert by["ci-1"]["running"] == {"model_name": "kws", "model_version": "1.2.0"}
    assert [e["status"] for e in by["ci-2"]["executions"]] == ["FAILED"] and by["ci-2"]["running"] is None
    assert [e["status"] for e in by["ci-3"]["executions"]] == ["CANCELED"] and by["ci-3"]["certificates"] == ["ACTIVE"]
    assert status["jobs"][0]["status"] == "CANCELED" and status["jobs"][0]["counts"]["numberOfFailedThings"] == 1
    table = cli("fleet", "status", "ci-fleet", "--job", job["job_id"])
    assert table.returncode == 0, table.stderr
    rows = {l.split()[0]: l.split() for l in table.stdout.splitlines() if l.startswith("ci-")}
    assert rows["ci-1"][1:] == ["ACTIVE", job["job_id"], "kws", "1.2.0", "SUCCEEDED", "kws", "1.2.0"]
    assert rows["ci-2"][5] == "FAILED" and rows["ci-3"][5] == "CANCELED"
    assert f"job {job['job_id']}: CANCELED" in table.stdout


def test_credentials_only_for_the_registered_active_certificate(fleet, cli, aws, tmp_path):
    iot = aws["iot"]
    dev1 = Device(str(fleet["dir"] / "devices/ci-1"))
    creds = dev1.credentials()
    assert creds["accessKeyId"] and creds["sessionToken"] and creds["expiration"].endswith("Z")
    # a certificate IoT never issued: the TLS handshake is refused
    stranger = tmp_path / "stranger"
    shutil.copytree(fleet["dir"] / "devices/ci-1", stranger)
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography import x509
    import datetime
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "AWS IoT Certificate")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (stranger / "certificate.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (stranger / "private.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    with pytest.raises(DeviceError, match="refused the connection"):
        Device(str(stranger)).credentials()
    # ci-2's real certificate claiming to be ci-1
    impostor = tmp_path / "impostor"
    shutil.copytree(fleet["dir"] / "devices/ci-2", impostor)
    cfg = json.loads((impostor / "agent.json").read_text())
    cfg["edgec_thing_name"] = "ci-1"
    (impostor / "agent.json").write_text(json.dumps(cfg))
    with pytest.raises(DeviceError, match="403: thing ci-1 is not attached"):
        Device(str(impostor)).credentials()
    # a deactivated certificate gets nothing
    iot.update_certificate(certificateId=fleet["devices"]["ci-3"]["certificate_id"], newStatus="INACTIVE")
    with pytest.raises(DeviceError, match="403: certificate .* is INACTIVE"):
        Device(str(fleet["dir"] / "devices/ci-3")).credentials()
    # rotation: a new certificate works, the old one (kept by someone) is deactivated and gets nothing
    old = tmp_path / "old-ci-2"
    shutil.copytree(fleet["dir"] / "devices/ci-2", old)
    r = cli("fleet", "register", "ci-fleet", "ci-2", "--out", fleet["dir"] / "devices", "--rotate", "--json", json_out=True)
    assert r["devices"][0]["certificate_id"] != fleet["devices"]["ci-2"]["certificate_id"]
    assert Device(str(fleet["dir"] / "devices/ci-2")).credentials()["accessKeyId"]
    with pytest.raises(DeviceError, match="INACTIVE"):
        Device(str(old)).credentials()
    assert iot.list_thing_principals(thingName="ci-2")["principals"] == [r["devices"][0]["certificate_arn"]]


def test_timeouts_and_cancels_reach_the_executions(fleet, cli, aws, cloud):
    """Second fleet in the same bucket: an execution left IN_PROGRESS times out (1 IoT minute = 1 s
    here), and canceling the job cancels the queued one."""
    iot, lab = aws["iot"], Cloud(cloud["endpoint_url"], "us-east-1")       # the library behind the CLI, over HTTP too
    create_fleet(lab, "lab", BUCKET, str(fleet["dir"] / "keys/signing.pub"))
    register_devices(lab, "lab", ["lab-a", "lab-b"], str(fleet["dir"] / "lab"))
    assert publish(lab, str(fleet["pkg"]), "lab")["published"].startswith("already")
    job = cli("fleet", "deploy", "lab", "--model", "kws", "--version", "1.2.0", "--timeout-minutes", "1", "--json", json_out=True)
    a = Device(str(fleet["dir"] / "lab/lab-a")).client("iot-jobs-data")
    ex = a.start_next_pending_job_execution(thingName="lab-a")["execution"]
    assert ex["status"] == "IN_PROGRESS" and 0 < ex["approximateSecondsBeforeTimedOut"] <= 60
    time.sleep(1.3)
    assert iot.describe_job_execution(jobId=job["job_id"], thingName="lab-a")["execution"]["status"] == "TIMED_OUT"
    with pytest.raises(a.exceptions.InvalidStateTransitionException):
        a.update_job_execution(thingName="lab-a", jobId=job["job_id"], status="SUCCEEDED")
    iot.cancel_job(jobId=job["job_id"])
    assert iot.describe_job_execution(jobId=job["job_id"], thingName="lab-b")["execution"]["status"] == "CANCELED"
    counts = iot.describe_job(jobId=job["job_id"])["job"]["jobProcessDetails"]
    assert counts["numberOfTimedOutThings"] == 1 and counts["numberOfCanceledThings"] == 1


def test_a_rollout_rate_of_one_a_minute_gives_the_second_device_the_job_a_minute_later(fleet, cli, aws, cloud):
    """--rollout-rate 1/min (an IoT minute is 1 s here): the job reaches one device at once; the other
    sees nothing pending, and gets it once that minute has passed."""
    lab = Cloud(cloud["endpoint_url"], "us-east-1")
    create_fleet(lab, "paced", BUCKET, str(fleet["dir"] / "keys/signing.pub"))
    register_devices(lab, "paced", ["paced-a", "paced-b"], str(fleet["dir"] / "paced"))
    a, b = (Device(str(fleet["dir"] / "paced" / n)).client("iot-jobs-data") for n in ("paced-a", "paced-b"))
    for dev, name in ((a, "paced-a"), (b, "paced-b")):         # credentials fetched before the minute starts
        assert dev.get_pending_job_executions(thingName=name)["queuedJobs"] == []
    job = cli("fleet", "deploy", "paced", "--model", "kws", "--version", "1.2.0", "--rollout-rate", "1/min", "--json", json_out=True)
    first = a.start_next_pending_job_execution(thingName="paced-a")["execution"]
    assert first["jobId"] == job["job_id"] and first["status"] == "IN_PROGRESS"
    assert b.start_next_pending_job_execution(thingName="paced-b").get("execution") is None
    assert b.get_pending_job_executions(thingName="paced-b")["queuedJobs"] == []
    assert aws["iot"].describe_job_execution(jobId=job["job_id"], thingName="paced-b")["execution"]["status"] == "QUEUED"
    second = None
    for _ in range(40):
        second = b.start_next_pending_job_execution(thingName="paced-b").get("execution")
        if second:
            break
        time.sleep(0.1)
    assert second and second["jobId"] == job["job_id"]
    assert second["startedAt"] - first["startedAt"] >= 1          # epoch seconds: at least the minute apart
    assert aws["iot"].describe_job(jobId=job["job_id"])["job"]["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 1}
    # exponentialRate: 1 a minute, doubled once 2 devices were notified: paced-a at once, paced-b a minute later
    aws["iot"].create_job(jobId="paced-exp", targets=[aws["iot"].describe_thing_group(thingGroupName="paced")["thingGroupArn"]],
                          document=json.dumps({"type": "probe"}), jobExecutionsRolloutConfig={"exponentialRate": {
                              "baseRatePerMinute": 1, "incrementFactor": 2.0, "rateIncreaseCriteria": {"numberOfNotifiedThings": 2}}})
    a.update_job_execution(thingName="paced-a", jobId=job["job_id"], status="SUCCEEDED")
    b.update_job_execution(thingName="paced-b", jobId=job["job_id"], status="SUCCEEDED")
    pending = lambda dev, name: [j["jobId"] for j in dev.get_pending_job_executions(thingName=name)["queuedJobs"]]
    assert (pending(a, "paced-a"), pending(b, "paced-b")) == (["paced-exp"], [])


def test_aws_region_is_honoured(fleet, cloud, tmp_path):
    """AWS_REGION (which botocore alone ignores) picks the region, before AWS_DEFAULT_REGION, as the
    AWS CLI v2 reads it: the fleet, its devices' configuration and its status are in eu-west-2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(EDGEC_AWS_ENDPOINT=cloud["endpoint_url"], AWS_REGION="eu-west-2", AWS_DEFAULT_REGION="ap-south-1")
    edgec = lambda *a: subprocess.run(EDGEC + [str(x) for x in a], capture_output=True, text=True, env=env)
    r = edgec("fleet", "create", "regional", "--bucket", "edgec-regional", "--pubkey", fleet["dir"] / "keys/signing.pub", "--json")
    assert r.returncode == 0, r.stderr
    assert ":eu-west-2:" in json.loads(r.stdout)["role_alias_arn"]
    r = edgec("fleet", "register", "regional", "reg-1", "--out", tmp_path / "devices", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "devices/reg-1/agent.json").read_text())["sagemaker_edge_core_region"] == "eu-west-2"
    assert edgec("fleet", "status", "regional").returncode == 0
    iot = lambda region: boto3.client("iot", endpoint_url=cloud["endpoint_url"], region_name=region,
                                      aws_access_key_id="test", aws_secret_access_key="test")
    assert [g["groupName"] for g in iot("eu-west-2").list_thing_groups()["thingGroups"]] == ["regional"]
    assert "regional" not in [g["groupName"] for g in iot("us-east-1").list_thing_groups()["thingGroups"]]
    assert "regional" not in [g["groupName"] for g in iot("ap-south-1").list_thing_groups()["thingGroups"]]


def test_fleet_bad_input_is_one_line(run, cloud, tmp_path):
    one_line_error(run("fleet", "status", "nope"), "no fleet 'nope'")
    one_line_error(run("fleet", "create", "bad_name", "--bucket", BUCKET, "--pubkey", tmp_path / "k.pub"), "fleet name")
    one_line_error(run("fleet", "deploy", "ci-fleet", "--model", "kws", "--version", "1.2.0", "--rollout-rate", "fast"), "rollout rate")
    one_line_error(run("fleet", "publish", tmp_path / "none.tar.gz", "--fleet", "ci-fleet"), "cannot read package")
    one_line_error(run("fleet", "status", "ci-fleet", "--endpoint-url", "http://127.0.0.1:9"), "Could not connect")
    one_line_error(run("cloud", "serve", "--ephemeral", "--port", cloud["endpoint_url"].rsplit(":", 1)[1]), "cannot listen", "in use")
