"""`edgec release`, `edgec monitor watch` and a local cloud that keeps its state, as a release engineer
runs them: `edgec cloud serve --state DIR --minute 2` (an IoT/CloudWatch minute lasts 2 s), two real
agents (`edgec agent run`) with their bundles from `edgec fleet register`, the CLI as subprocesses.

One story, in order (module-scoped): release 1.0.0 goes canary -> whole fleet; the cloud is killed
(-9) and started again on its state, and the agents carry on; release 2.0.0's canary sees inputs 4x
darker than the calibration data, `monitor watch`'s drift alarm goes to ALARM, the release aborts and
the canary goes back to 1.0.0; the dashboard shows the alarm in Chromium."""
import json
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from conftest import DATA, cli, one_line_error, require
from edgec.package import signing
from conftest import read_json_line, wait_for
from agent_proc import EDGEC, AgentProc

FLEET = "rel-fleet"
BUCKET = "edgec-release-ci"


class CloudProc:
    """`edgec cloud serve` on a state directory; restartable (the ports come back with the state)."""

    def __init__(self, d):
        self.d, self.log = d, d / "cloud.log"
        self.start()

    def start(self):
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(EDGEC + ["cloud", "serve", "--port", "0", "--minute", "2s", "--state", self.d / "state", "--json"],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        self.info = read_json_line(self.proc, "edgec cloud serve", self.log, 30)
        return self.info

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        assert self.proc.wait(timeout=15) == (143 if sig == signal.SIGTERM else -sig), self.log.read_text()
        assert "Traceback" not in self.log.read_text(), self.log.read_text()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Cloud, keys, fleet of two registered devices with running agents (nothing deployed yet),
    the model and its calibration data with labels."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    d = tmp_path_factory.mktemp("release")
    cloud = CloudProc(d)
    cenv = {"EDGEC_AWS_ENDPOINT": cloud.info["endpoint_url"]}
    penv = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    penv.update(cenv)
    run = lambda *a: cli(*a, "--json", env=cenv, check_json=True)
    signing.generate(str(d / "keys"))
    x, y = np.load(DATA / "digits_X_test_float_0to1_x64.npy")[:200], np.load(DATA / "digits_y_test.npy")[:200]
    np.savez(d / "calib.npz", x=x, y=y)
    run("fleet", "create", FLEET, "--bucket", BUCKET, "--pubkey", d / "keys/signing.pub", "--output", f"s3://{BUCKET}/capture")
    run("fleet", "register", FLEET, "dev-1", "dev-2", "--out", d / "devices")
    agents = {}
    for name in ("dev-1", "dev-2"):
        cfg_file = d / "devices" / name / "agent.json"
        cfg = json.loads(cfg_file.read_text())
        cfg.update({"edgec_jobs_poll_seconds": 0.3, "edgec_heartbeat_seconds": 0.5,
                    "sagemaker_edge_core_capture_data_batch_size": 5, "sagemaker_edge_core_capture_data_push_period_seconds": 1})
        cfg_file.write_text(json.dumps(cfg))
        agents[name] = AgentProc(cfg_file, d / f"{name}.sock", env=penv)
    yield {"dir": d, "cloud": cloud, "cenv": cenv, "penv": penv, "run": run, "agents": agents, "x": x}
    for a in agents.values():
        a.stop()
    cloud.stop()


def release(env, version, *extra):
    d = env["dir"]
    r = subprocess.run(EDGEC + ["release", DATA / "digits_torch_cnn.onnx", "--name", "digits", "--target", "cortex-m4",
                                "--calibration", d / "calib.npz", "--fleet", FLEET, "--version", version, "--key",
                                d / "keys/signing.pem", "--work", d / f"work-{version}", "--poll", "0.3s", *map(str, extra), "--json"],
                       capture_output=True, text=True, env=env["penv"])
    assert "Traceback" not in r.stderr, r.stderr
    return r, json.loads(r.stdout)


def serving(env):
    out = {}
    for name, a in env["agents"].items():
        with a.client() as c:
            out[name] = {m["name"]: m["version"] for m in c.list()}.get("digits")
    return out


@contextmanager
def dark_captures_on(env, version):
    """While the block runs, whichever device serves `version` predicts and captures digits 4x darker
    than the calibration data; yields the list of devices each capture came from."""
    stop, sent = threading.Event(), []

    def dark():
        xs = env["x"].reshape(-1, 1, 8, 8) * np.float32(0.25)
        while not stop.is_set():
            for name, a in env["agents"].items():
                with a.client() as c:
                    if c.describe("digits")["version"] == version:
                        for x in xs[len(sent) % 150:][:10]:
                            c.predict_and_capture("digits", x[None])
                            sent.append(name)
            stop.wait(0.3)
    t = threading.Thread(target=dark, daemon=True)
    t.start()
    try:
        yield sent
    finally:
        stop.set()
        t.join(timeout=30)


def test_a_release_goes_through_the_canary_to_the_whole_fleet(env):
    r, res = release(env, "1.0.0", "--canary", "50%", "--watch", "2s")
    assert r.returncode == 0, r.stderr
    assert res["result"] == "released" and res["failed_stage"] is None
    stages = {s["stage"]: s for s in res["stages"]}
    assert list(stages) == ["build", "verify", "accuracy", "package", "publish", "canary", "watch", "fleet"]
    assert all(s["ok"] for s in res["stages"])
    assert stages["verify"]["bit_exact"] and stages["verify"]["target"] == "cortex-m4" and stages["verify"]["instructions_per_inference"] > 0
    acc = stages["accuracy"]
    assert acc["against"] == "labels" and acc["samples"] == 200 and acc["drop"] <= 0.01 and acc["int8_top1"] > 0.9
    print(f"\nrelease 1.0.0: float top-1 {acc['float_top1']}, int8 top-1 {acc['int8_top1']}, "
          f"{stages['verify']['instructions_per_inference']:,} instructions per inference on cortex-m4")
    assert stages["canary"]["devices"] == ["dev-1"] and stages["fleet"]["devices"] == ["dev-2"]   # 50% of 2, by name
    assert stages["canary"]["previous"] == {"dev-1": None}
    assert stages["watch"]["captures"] == 0 and stages["fleet"]["executions"] == {"dev-2": "SUCCEEDED"}
    assert [j["part"] for j in res["jobs"]] == ["canary", "fleet"]
    for line in ("release digits 1.0.0: build ...", "release digits 1.0.0: canary: ok", "release digits 1.0.0: fleet: ok"):
        assert line in r.stderr, r.stderr                                        # progress on stderr
    assert serving(env) == {"dev-1": "1.0.0", "dev-2": "1.0.0"}
    xs = env["x"][:8].reshape(-1, 1, 8, 8)                                        # the devices answer as `edgec run` does
    np.save(env["dir"] / "xs.npy", xs)
    ran = cli("run", env["dir"] / "work-1.0.0/build", env["dir"] / "xs.npy", "-o", env["dir"] / "run.npy")
    assert ran.returncode == 0, ran.stderr
    with env["agents"]["dev-2"].client() as c:
        got = np.stack([c.predict("digits", x[None]) for x in xs]).reshape(len(xs), -1)
    assert np.array_equal(got, np.load(env["dir"] / "run.npy").reshape(len(xs), -1))


def test_the_cloud_keeps_its_state_across_a_kill_and_the_agents_reconnect(env):
    """kill -9 of the cloud, then a start on the same --state: the same ports, the fleet, devices,
    certificates, jobs with their executions, published packages and the agents' shadows are all
    there, and the agents carry on (credentials from the same credential endpoint)."""
    before = env["run"]("fleet", "status", FLEET)
    time.sleep(1.2)                                         # the state is written within a second of a change
    old = dict(env["cloud"].info)
    ca = open(old["ca_file"], "rb").read()                   # what every device bundle trusts
    env["cloud"].stop(signal.SIGKILL)
    one_line_error(cli("fleet", "status", FLEET, env=env["cenv"]), "Could not connect")
    info = env["cloud"].start()
    assert {k: info[k] for k in ("endpoint_url", "credentials_endpoint", "ca_file")} == \
        {k: old[k] for k in ("endpoint_url", "credentials_endpoint", "ca_file")}
    assert open(info["ca_file"], "rb").read() == ca
    assert info["restored"] and "iot" in info["restored"] and "s3" in info["restored"]
    after = env["run"]("fleet", "status", FLEET)
    strip = lambda st: [(d["name"], d["certificates"], [(e["job_id"], e["status"]) for e in d["executions"]], d["running"])
                        for d in st["devices"]]
    assert strip(after) == strip(before) and [j["job_id"] for j in after["jobs"]] == [j["job_id"] for j in before["jobs"]]
    assert all(j["status"] == "COMPLETED" for j in after["jobs"])
    beat = {d["name"]: d["agent"]["heartbeat"] for d in after["devices"]}
    wait_for("heartbeats after the restart", lambda: all(
        d["agent"]["heartbeat"] > beat[d["name"]] for d in env["run"]("fleet", "status", FLEET)["devices"]), timeout=20, every=0.5)
    assert serving(env) == {"dev-1": "1.0.0", "dev-2": "1.0.0"}


def test_a_drift_alarm_aborts_a_release_and_the_canary_goes_back(env, tmp_path):
    """`monitor watch` publishes digits' input drift every second with an alarm at PSI > 0.25; while
    release 2.0.0 watches its canary, the canary sees inputs 4x darker; the alarm goes to ALARM, the
    release aborts, dev-1 gets 1.0.0 back through a signed downgrade allowance, dev-2 never sees 2.0.0."""
    d = env["dir"]
    log = tmp_path / "watch.log"
    with open(log, "w") as err:
        watcher = subprocess.Popen(EDGEC + ["monitor", "watch", "--fleet", FLEET, "--baseline", f"digits={d / 'calib.npz'}",
                                            "--period", "1s", "--window", "60s", "--alarm", "InputDriftPSI>0.25",
                                            "--alarm", "p95>1000", "--json"],
                                   stdout=subprocess.PIPE, stderr=err, text=True, env=env["penv"])
    first = read_json_line(watcher, "edgec monitor watch", log)
    assert sorted(first["alarms_put"]) == [f"edgec-{FLEET}-digits-InputDriftPSI", f"edgec-{FLEET}-digits-LatencyP95Ms"]
    assert first["metrics"]["digits"]["Devices"] == 2 and first["metrics"]["digits"]["Captures"] == 0
    with dark_captures_on(env, "2.0.0") as sent:
        r, res = release(env, "2.0.0", "--canary", "50%", "--watch", "60s", "--max-drift-psi", "100")
    assert r.returncode == 1, r.stderr
    assert res["result"] == "rolled back" and res["failed_stage"] == "watch"
    stages = {s["stage"]: s for s in res["stages"]}
    assert list(stages) == ["build", "verify", "accuracy", "package", "publish", "canary", "watch", "rollback"]
    watch = stages["watch"]
    assert not watch["ok"] and watch["reason"].startswith(f"alarm edgec-{FLEET}-digits-InputDriftPSI is in ALARM: Threshold Crossed")
    assert watch["seconds"] < 60                              # aborted by the alarm, not at the end of the watch
    assert set(sent) == {"dev-1"}
    rb = stages["rollback"]
    assert rb["ok"] and rb["restored"] == {"dev-1": "1.0.0"} and rb["kept_new_version"] == []
    assert rb["canceled_jobs"] == []                         # the canary job had completed: nothing to cancel
    assert [j["part"] for j in res["jobs"]] == ["canary", "rollback-1.0.0"]
    assert serving(env) == {"dev-1": "1.0.0", "dev-2": "1.0.0"}
    st = env["run"]("fleet", "status", FLEET)
    assert all("2.0.0" not in e["job_id"] for dev in st["devices"] if dev["name"] == "dev-2" for e in dev["executions"])
    # the metrics are CloudWatch's: PutMetricData with the fleet and model as dimensions
    import boto3
    cw = boto3.client("cloudwatch", endpoint_url=env["cloud"].info["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="edgec", Dimensions=[{"Name": "Fleet", "Value": FLEET},
                                                                                      {"Name": "Model", "Value": "digits"}])["Metrics"]}
    assert {"InputDriftPSI", "OutputDriftPSI", "Captures", "LatencyP95Ms", "Inferences", "Devices", "JobFailures", "CaptureBacklog"} <= names
    now = datetime.now(timezone.utc)
    psi = cw.get_metric_statistics(Namespace="edgec", MetricName="InputDriftPSI", StartTime=now - timedelta(minutes=10), EndTime=now,
                                   Period=60, Statistics=["Maximum"], Dimensions=[{"Name": "Fleet", "Value": FLEET},
                                                                                  {"Name": "Model", "Value": "digits"}])["Datapoints"]
    assert max(p["Maximum"] for p in psi) > 0.25
    # the dashboard lists the alarm, in ALARM, with CloudWatch's reason
    require("chromium")
    from chromium import Chromium
    out = cli("dashboard", "--fleet", FLEET, "--out", tmp_path / "dash", "--json", env=env["cenv"], check_json=True)
    assert out["devices"] == 2
    browser = Chromium(tmp_path / "profile")
    try:
        s = browser.open((tmp_path / "dash" / "index.html").as_uri())
        rows = browser.evaluate(s, """[...document.querySelectorAll('tr.alarm')].map(r => ({name: r.dataset.alarm,
            state: r.querySelector('.state').textContent, text: r.textContent}))""")
        assert browser.errors() == []
    finally:
        browser.close()
    by = {a["name"]: a for a in rows}
    drift_alarm = by[f"edgec-{FLEET}-digits-InputDriftPSI"]
    assert drift_alarm["state"] == "ALARM" and "InputDriftPSI > 0.25" in drift_alarm["text"] and "Threshold Crossed" in drift_alarm["text"]
    assert by[f"edgec-{FLEET}-digits-LatencyP95Ms"]["state"] in ("OK", "INSUFFICIENT_DATA")
    watcher.terminate()
    assert watcher.wait(timeout=15) == 143 and "Traceback" not in log.read_text()


def test_input_drift_on_the_canary_fails_the_watch_gate_and_rolls_back(env):
    """No watcher, no alarm: release 2.0.1's own drift gate reads the canary's captures of 2.0.1 at the
    end of --watch, finds them far from the calibration data and rolls dev-1 back to 1.0.0."""
    with dark_captures_on(env, "2.0.1") as sent:
        r, res = release(env, "2.0.1", "--canary", "50%", "--watch", "4s", "--min-captures", "10")
    assert r.returncode == 1 and res["result"] == "rolled back" and res["failed_stage"] == "watch", r.stderr
    watch = {s["stage"]: s for s in res["stages"]}["watch"]
    assert watch["reason"].startswith("input drift on the canary: max feature PSI") and "above --max-drift-psi 0.25" in watch["reason"]
    assert watch["captures"] >= 10 and watch["devices_captured"] == ["dev-1"] and watch["drift"] == "significant"
    assert set(sent) == {"dev-1"}
    assert {s["stage"]: s for s in res["stages"]}["rollback"]["restored"] == {"dev-1": "1.0.0"}
    assert serving(env) == {"dev-1": "1.0.0", "dev-2": "1.0.0"}


def test_release_and_watch_bad_input_is_one_line(env, tmp_path):
    d, cenv = env["dir"], env["cenv"]
    base = ["release", DATA / "digits_torch_cnn.onnx", "--target", "cortex-m4", "--calibration", d / "calib.npz",
            "--fleet", FLEET, "--key", d / "keys/signing.pem", "--work", tmp_path / "w"]
    one_line_error(cli(*base, "--version", "3.0.0", "--canary", "0%", env=cenv), "--canary")
    one_line_error(cli(*base, "--version", "3.0.0", "--watch", "soon", env=cenv), "--watch 'soon'")
    one_line_error(cli(*base, "--version", "not a version", env=cenv), "version")
    one_line_error(cli(*base, "--version", "3.0.0", "--rollout-rate", "fast", env=cenv), "rollout rate")
    one_line_error(cli("release", tmp_path / "none.onnx", "--target", "cortex-m4", "--calibration", d / "calib.npz", "--fleet", FLEET,
                       "--version", "3.0.0", "--key", d / "keys/signing.pem", env=cenv), "model file not found")
    one_line_error(cli("monitor", "watch", "--fleet", FLEET, "--alarm", "drift=>1", env=cenv), "--alarm 'drift=>1'")
    one_line_error(cli("monitor", "watch", "--fleet", "nope", "--count", "1", env=cenv), "no fleet 'nope'")
    one_line_error(cli("cloud", "serve", "--port", "0", "--state", d / "state", env=cenv), "in use by another local cloud")
    one_line_error(cli("cloud", "serve", "--port", "0", "--minute", "0", "--ephemeral", env=cenv), "--minute")
    (tmp_path / "torn").mkdir(mode=0o700)
    (tmp_path / "torn" / "moto.pickle").write_bytes(b"\x80\x05 half a state")
    one_line_error(cli("cloud", "serve", "--port", "0", "--state", tmp_path / "torn", env=cenv), "cannot read the local cloud's state")
