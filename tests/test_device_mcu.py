"""Microcontroller devices in the fleet (issue 20, part 4), on real processes: the example firmware
(verification/harness/mcu_device.c: slots, image interpreter, kernels, libsodium) in QEMU's Cortex-M4
with its flash in a host file, driven over its emulated UART; `edgec device run` bridges it to the
local cloud (`edgec cloud serve`) through the device's own credential bundle.

The model is digits_cnn (tests/data) in two calibrations (v1, v2: other scales, other outputs);
every inference the device answers is compared bit for bit with the integer reference of its build."""
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import CASES, cli, read_json_line, require, wait_for
from edgec.codegen.image import BODY_FROM, read_header
from edgec.package import device_manifest, archive as package, signing
from edgec.fleet import device_slots, mcu
from edgec.agent import mcu_bridge
from edgec.package.signing import SignatureError
from edgec.verification.toolchain import harness_tool, read_profile
from edgec.compiler.targets import get_target
from edgec.verification.verify import Built

EDGEC = [sys.executable, "-m", "edgec.cli.main"]
BUCKET = "edgec-mcu-ci"
FLEET = "mcu-fleet"
NAME = "digits"


def selftest_fails(img: bytes) -> bytes:
    """The image with one golden output byte changed and its body hash made right again: it checks,
    and its self-test must fail."""
    h = read_header(img)
    bad = bytearray(img)
    bad[h["selftest_offset"] + 4 * h["input_bytes"] + 3] ^= 1
    bad[16:48] = hashlib.sha256(bytes(bad[BODY_FROM:])).digest()
    return bytes(bad)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """digits_cnn built twice (v1, v2 calibrations), the fleet key, packages for cortex-m4, and the
    integer reference's outputs of each build for the test inputs."""
    require("cc", "arm-none-eabi-gcc", "qemu-system-arm")
    from edgec.driver.build import build
    d = tmp_path_factory.mktemp("mcu-models")
    signing.generate(str(d / "keys"))
    case = CASES["digits_cnn"]
    calib = case.calibration()
    xs = case.inputs()[:8]
    np.save(d / "inputs.npy", xs)
    out = {"dir": d, "keys": d / "keys", "inputs": d / "inputs.npy"}
    for tag, cal in (("v1", calib[:300]), ("v2", calib[-300:] * np.float32(1.4))):
        np.save(d / f"calib-{tag}.npy", cal)
        build(case.path, "cortex-m4", str(d / tag), str(d / f"calib-{tag}.npy"), NAME)
        b = Built(str(d / tag))
        q = b.quantize_input(xs)
        out[tag] = {"out": d / tag, "q": q, "raw": b.expected(q).reshape(len(q), -1),
                    "image": (d / tag / "model.edgecimg").read_bytes()}
    assert not np.array_equal(out["v1"]["raw"], out["v2"]["raw"])
    return out


def pack(models, tag, version, counter, path, downgrade=False):
    args = ["package", models[tag]["out"], "--name", NAME, "--version", version, "--key", models["keys"] / "signing.pem",
            "--device-target", "cortex-m4", "--security-counter", counter, "-o", path, "--json"]
    return cli(*args, *(["--allow-downgrade"] if downgrade else []), check_json=True)


def serves(outputs, models, tag):
    return np.array_equal(np.stack([np.frombuffer(o, np.int8) for o in outputs]), models[tag]["raw"])


# ---- the firmware on its own --------------------------------------------------------------------

def test_firmware_self_tests_a_real_image_and_serves_it_bit_exact(models, tmp_path):
    """The firmware in QEMU, driven over its UART: v1's image staged, verified, self-tested (the
    interpreter runs its golden inputs), activated and serving the integer reference's outputs bit
    for bit; an image whose golden outputs disagree is refused by the self-test, an image signed by
    another key by the signature, and v1 keeps serving.  The update's instructions are counted."""
    key = signing.load_private(str(models["keys"] / "signing.pem"))
    elf = mcu.firmware("cortex-m4", mcu.public_key_raw(key.public_key()))
    img = models["v1"]["image"]
    prof = tmp_path / "profile.txt"
    flash = tmp_path / "dev.flash"
    link = mcu.Link("cortex-m4", elf, flash, extra=["-plugin", f"{harness_tool('insncount.so')},out={prof}"])
    try:                                     # counted: boot on a blank flash and the update, nothing else
        assert link.status["name"] is None
        start = time.monotonic()
        st = link.install(device_manifest.make(key, img, NAME, "1.0.0", 1), img)
        seconds = time.monotonic() - start
        assert (st["name"], st["version"], st["counter"], st["trial"], st["image_code"]) == (NAME, "1.0.0", 1, False, 0)
    finally:
        link.close()
    p = read_profile(get_target("cortex-m4"), elf, prof)
    link = mcu.Link("cortex-m4", elf, flash)           # restarted from its flash
    try:
        assert (link.status["version"], link.status["trial"]) == ("1.0.0", False)
        assert serves([link.infer(x.tobytes()) for x in models["v1"]["q"]], models, "v1")
        bad = selftest_fails(models["v2"]["image"])
        with pytest.raises(mcu.DeviceRefused, match=r"self-test.*golden outputs differ.*code -6"):
            link.install(device_manifest.make(key, bad, NAME, "4.0.0", 4), bad)
        rogue = ed25519.Ed25519PrivateKey.generate()
        v2 = models["v2"]["image"]
        with pytest.raises(mcu.DeviceRefused, match=r"signature.*code -3"):
            link.install(device_manifest.make(rogue, v2, NAME, "3.0.0", 3), v2)
        assert link.refresh()["version"] == "1.0.0"
        assert serves([link.infer(x.tobytes()) for x in models["v1"]["q"]], models, "v1")
        # staged and self-tested, then a bit of the slot flips before activation: the image in service is
        # loaded from flash and checked again, so the device reverts at once
        link.step(b"M", device_manifest.make(key, v2, NAME, "2.0.0", 2))
        for at in range(0, len(v2), 1024):
            link.step(b"W", v2[at:at + 1024])
        link.step(b"F")
        slot = 1 - link.refresh()["slot"]
        with open(flash, "r+b") as f:
            f.seek(2 * mcu.SECTOR + slot * mcu.SLOT + 256 + len(v2) // 2)
            byte = f.read(1)[0]
            f.seek(-1, 1)
            f.write(bytes([byte ^ 0x10]))
        with pytest.raises(mcu.DeviceRefused, match=r"in service; reverted.*sha256 of the body differs.*code -102"):
            link.step(b"A")
        assert (link.refresh()["version"], link.status["trial"]) == ("1.0.0", False)
        assert serves([link.infer(x.tobytes()) for x in models["v1"]["q"]], models, "v1")
        # a frame damaged on the line is answered -100 and nothing is done; the next one works
        good = mcu.frame(b"S")
        link.proc.stdin.write(good[:-1] + bytes([good[-1] ^ 0xFF]))
        link.proc.stdin.flush()
        head = link._read(5, time.monotonic() + 30)
        code = struct.unpack("<i", link._read(struct.unpack("<H", head[3:5])[0] + 4, time.monotonic() + 30)[:4])[0]
        assert head[:3] == b"EFr" and code == mcu.E_FRAME
        assert link.refresh()["version"] == "1.0.0"
    finally:
        link.close()
    fields, image = device_slots.serving(flash.read_bytes(), mcu.SECTOR, mcu.SLOT, key.public_key())[1:]
    assert image == img and fields["version"] == "1.0.0"
    assert p.instructions > 0
    print(f"\ncortex-m4 firmware: a {len(img):,}-byte image update (boot, stage over the UART in 1 KB frames, "
          f"hash, Ed25519, self-test of {read_header(img)['selftests']} golden inputs, activate, load, self-test in service) "
          f"took {seconds:.2f} s in QEMU, {p.instructions:,} instructions "
          f"(top: {', '.join(f'{k} {v:,}' for k, v in list(p.per_function.items())[:4])})")


def test_edgec_run_of_a_package_runs_its_image_on_the_emulated_core(models, tmp_path):
    r = pack(models, "v1", "1.0.0", 1, tmp_path / "d.tar.gz")
    assert r["device_target"] == "cortex-m4" and r["security_counter"] == 1
    members = package.read_members((tmp_path / "d.tar.gz").read_bytes(), "d")
    assert members[device_manifest.IMAGE_FILE] == models["v1"]["image"] and "lib/libmodel.so" not in members
    key = signing.load_public(str(models["keys"] / "signing.pub"))
    assert device_manifest.parse(members[device_manifest.DEVICE_MANIFEST_FILE], key, members[device_manifest.IMAGE_FILE])["security_counter"] == 1
    got = cli("run", tmp_path / "d.tar.gz", models["inputs"], "--on", "cortex-m4", "--raw", "-o", tmp_path / "pkg.npy", "--json",
              check_json=True)
    gen = cli("run", models["v1"]["out"], models["inputs"], "--on", "cortex-m4", "--raw", "-o", tmp_path / "gen.npy", "--json",
              check_json=True)
    assert np.array_equal(np.load(tmp_path / "pkg.npy").reshape(8, -1), models["v1"]["raw"])
    assert np.array_equal(np.load(tmp_path / "pkg.npy"), np.load(tmp_path / "gen.npy"))
    assert got["instructions_per_inference"] <= 1.05 * gen["instructions_per_inference"]
    # a Linux package runs its build's generated C the same way (`edgec run` of a package is not MCU-only)
    cli("package", models["v1"]["out"], "--name", NAME, "--version", "1.0.0", "--key", models["keys"] / "signing.pem",
        "-o", tmp_path / "linux.tar.gz", "--json", check_json=True)
    cli("run", tmp_path / "linux.tar.gz", models["inputs"], "--on", "host", "--raw", "-o", tmp_path / "linux.npy", "--json",
        check_json=True)
    assert np.array_equal(np.load(tmp_path / "linux.npy"), np.load(tmp_path / "gen.npy"))
    r = cli("package", models["v1"]["out"], "--name", NAME, "--version", "1.0.0", "--key", models["keys"] / "signing.pem",
            "--device-target", "cortex-m4", "-o", tmp_path / "x.tar.gz")
    assert r.returncode == 2 and "--security-counter" in r.stderr and "Traceback" not in r.stderr


# ---- the fleet: two emulated devices ---------------------------------------------------------------

class DeviceProc:
    """`edgec device run` as a subprocess: its ready line, its log, its inference socket."""

    def __init__(self, bundle: Path, flash: Path, env, chunk=1024):
        self.bundle, self.flash, self.env, self.chunk = bundle, flash, env, chunk
        self.sock = bundle / "infer.sock"
        self.log = bundle / "device.log"
        self.start()

    def start(self):
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(EDGEC + ["device", "run", "--bundle", str(self.bundle), "--target", "cortex-m4",
                                                  "--flash-image", str(self.flash), "--socket", str(self.sock),
                                                  "--chunk-bytes", str(self.chunk), "--json"],
                                         stdout=subprocess.PIPE, stderr=err, text=True, env=self.env)
        self.info = read_json_line(self.proc, "edgec device run", self.log, 120)
        return self

    def infer(self, q):
        return [mcu_bridge.infer(self.sock, x.tobytes()) for x in q]

    def qemu_pid(self):
        pids = [int(l.split("QEMU pid ")[1].split(")")[0]) for l in self.log.read_text().splitlines() if "QEMU pid " in l]
        return pids[-1] if pids else self.info["qemu_pid"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(timeout=30) == 143, self.log.read_text()
        assert "Traceback" not in self.log.read_text(), self.log.read_text()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    d = tmp_path_factory.mktemp("mcu-cloud")
    log = d / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["cloud", "serve", "--port", "0", "--state", str(d / "state"), "--json"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    info = read_json_line(proc, "edgec cloud serve", log, 30)
    yield info
    proc.terminate()
    assert proc.wait(timeout=10) == 143, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def fleet(models, cloud, tmp_path_factory):
    d = tmp_path_factory.mktemp("mcu-fleet")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["EDGEC_AWS_ENDPOINT"] = cloud["endpoint_url"]
    cenv = {"EDGEC_AWS_ENDPOINT": cloud["endpoint_url"]}
    run = lambda *a: cli(*a, "--json", env=cenv, check_json=True)
    kw = dict(endpoint_url=cloud["endpoint_url"], region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))
    aws = {s: boto3.client(s, **kw) for s in ("iot", "s3")}
    run("fleet", "create", FLEET, "--bucket", BUCKET, "--pubkey", models["keys"] / "signing.pub", "--output", f"s3://{BUCKET}/capture")
    run("fleet", "register", FLEET, "mcu-a", "mcu-b", "--out", d / "devices")
    devices = {}
    for name in ("mcu-a", "mcu-b"):
        cfg_file = d / "devices" / name / "agent.json"
        cfg = json.loads(cfg_file.read_text())
        cfg.update({"edgec_jobs_poll_seconds": 0.5, "edgec_heartbeat_seconds": 1})
        cfg_file.write_text(json.dumps(cfg, indent=2))
        devices[name] = DeviceProc(d / "devices" / name, d / f"{name}.flash", env, chunk=64 if name == "mcu-a" else 1024)
    state = {"dir": d, "run": run, "aws": aws, "devices": devices, "env": env}
    yield state
    for dev in devices.values():
        dev.stop()


def executions(aws, job_id):
    return {e["thingArn"].rsplit("/", 1)[-1]: e["jobExecutionSummary"]["status"]
            for e in aws["iot"].list_job_executions_for_job(jobId=job_id)["executionSummaries"]}


def details(aws, job, thing):
    return aws["iot"].describe_job_execution(jobId=job, thingName=thing)["execution"]["statusDetails"]["detailsMap"]


def deploy(fleet, version, job_id=None):
    return fleet["run"]("fleet", "deploy", FLEET, "--model", NAME, "--version", version,
                        *(["--job-id", job_id] if job_id else []))["job_id"]


def ended(fleet, job, want):
    wait_for(f"job {job}: {want}", lambda: executions(fleet["aws"], job) == want, timeout=120)


def raw_job(fleet, models, data: bytes, version: str, job_id: str):
    """A package put into the bucket and a job made by someone who can write both but does not hold
    the fleet's signing key (publish would refuse what they ship)."""
    key = f"models/{NAME}/{version}/{job_id}.tar.gz"
    fleet["aws"]["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    doc = {"type": "new_model", "model_name": NAME, "model_version": version, "model_package_bucket": BUCKET,
           "model_package_key": key, "model_package_sha256": package.sha256(data), "fleet": FLEET}
    group = fleet["aws"]["iot"].describe_thing_group(thingGroupName=FLEET)["thingGroupArn"]
    fleet["aws"]["iot"].create_job(jobId=job_id, targets=[group], document=json.dumps(doc))
    return job_id


def resign(pkg_bytes: bytes, key, change) -> bytes:
    """A package with `change(members)` applied, its manifest's file hashes updated and signed again by `key`."""
    members = package.read_members(pkg_bytes, "pkg")
    change(members)
    manifest = json.loads(members.pop(package.MANIFEST))
    members.pop(package.SIGNATURE)
    manifest["files"] = {p: {"sha256": package.sha256(b), "size": len(b)} for p, b in sorted(members.items())}
    rest = package.payload(members)
    manifest["payload"] = {"sha256": package.sha256(rest), "size": len(rest)}
    body = signing.canonical_json(manifest)
    members[package.MANIFEST], members[package.SIGNATURE] = body, signing.canonical_json(signing.sign(key, body))
    return package.head(members) + rest


BOTH = lambda s: {"mcu-a": s, "mcu-b": s}


def test_rollouts_to_two_emulated_cortex_m4_devices(models, fleet, tmp_path):
    """v1 deployed and serving bit-exact, v2 rolled out; fleet status shows the MCU devices' models
    from the agent's shadow; a tampered v3, a v3 signed by another key, a v3 whose device manifest
    another key signed (validly packaged: the device itself refuses it), and a v4 whose self-test
    fails: each FAILED with the reason, v2 serving; v1 again: refused by the devices' security
    counter, until a signed downgrade (1.0.1) allows it."""
    run, aws, devs = fleet["run"], fleet["aws"], fleet["devices"]
    fleet_key = signing.load_private(str(models["keys"] / "signing.pem"))
    for tag, version, counter in (("v1", "1.0.0", 1), ("v2", "2.0.0", 2)):
        pack(models, tag, version, counter, tmp_path / f"{version}.tar.gz")
        run("fleet", "publish", tmp_path / f"{version}.tar.gz", "--fleet", FLEET)
    job = deploy(fleet, "1.0.0")
    ended(fleet, job, BOTH("SUCCEEDED"))
    for dev in devs.values():
        assert serves(dev.infer(models["v1"]["q"]), models, "v1")
    assert details(aws, job, "mcu-a") == {"model_name": NAME, "model_version": "1.0.0", "previous_version": "none"}
    job = deploy(fleet, "2.0.0")
    ended(fleet, job, BOTH("SUCCEEDED"))
    for dev in devs.values():
        assert serves(dev.infer(models["v2"]["q"]), models, "v2")

    def shadows_say(version):
        st = run("fleet", "status", FLEET)
        return all(d["agent"] and [(m["name"], m["version"]) for m in d["agent"]["models"]] == [(NAME, version)]
                   and d["agent"]["device_target"] == "cortex-m4" and d["agent"]["models"][0]["inferences"] >= 8
                   for d in st["devices"]) and st
    st = wait_for("the shadows to report v2", lambda: shadows_say("2.0.0"), timeout=60)
    assert {d["name"]: d["running"]["model_version"] for d in st["devices"]} == BOTH("2.0.0")
    table = cli("fleet", "status", FLEET, env={"EDGEC_AWS_ENDPOINT": fleet["env"]["EDGEC_AWS_ENDPOINT"]})
    assert table.returncode == 0 and "agent mcu-a: heartbeat" in table.stdout and f"{NAME} 2.0.0" in table.stdout
    page = run("dashboard", "--fleet", FLEET, "--out", tmp_path / "dash")
    data = json.loads(Path(page["data"]).read_text())
    assert {d["name"]: [(m["name"], m["version"]) for m in d["agent"]["models"]] for d in data["status"]["devices"]} == BOTH(
        [(NAME, "2.0.0")])
    assert "mcu-b" in Path(page["page"]).read_text()

    pack(models, "v1", "3.0.0", 3, tmp_path / "3.0.0.tar.gz")
    good3 = (tmp_path / "3.0.0.tar.gz").read_bytes()
    members = package.read_members(good3, "v3")
    img = bytearray(members[device_manifest.IMAGE_FILE])
    img[len(img) // 2] ^= 1
    members[device_manifest.IMAGE_FILE] = bytes(img)
    signing.generate(str(tmp_path / "rogue"))
    rogue = signing.load_private(str(tmp_path / "rogue/signing.pem"))
    other_device_key = ed25519.Ed25519PrivateKey.generate()
    cases = {
        "tampered": (package.tar_gz(members), "does not match its sha256"),
        "rogue-package": (resign(good3, rogue, lambda m: None), "not by the trusted key"),
        "rogue-device-manifest": (resign(good3, fleet_key, lambda m: m.__setitem__(device_manifest.DEVICE_MANIFEST_FILE, device_manifest.make(
            other_device_key, m[device_manifest.IMAGE_FILE], NAME, "3.0.0", 3))), "device refused the image: the device manifest's signature"),
    }
    for what, (data, words) in cases.items():
        job = raw_job(fleet, models, data, "3.0.0", f"v3-{what}")
        ended(fleet, job, BOTH("FAILED"))
        for name in devs:
            d = details(aws, job, name)
            assert words in d["reason"] and d["running_version"] == "2.0.0", (what, d)
    bad = tmp_path / "v4"
    bad.mkdir()
    for f in models["v2"]["out"].iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "model.edgecimg").write_bytes(selftest_fails(models["v2"]["image"]))
    pack({**models, "v4": {"out": bad}}, "v4", "4.0.0", 4, tmp_path / "4.0.0.tar.gz")
    run("fleet", "publish", tmp_path / "4.0.0.tar.gz", "--fleet", FLEET)
    job = deploy(fleet, "4.0.0")
    ended(fleet, job, BOTH("FAILED"))
    for name in devs:
        assert "self-test" in details(aws, job, name)["reason"] and "golden outputs differ" in details(aws, job, name)["reason"]
    for dev in devs.values():
        assert serves(dev.infer(models["v2"]["q"]), models, "v2")

    job = deploy(fleet, "1.0.0", "v1-again")
    ended(fleet, job, BOTH("FAILED"))
    for name in devs:
        assert "security counter" in details(aws, job, name)["reason"], details(aws, job, name)
        assert details(aws, job, name)["running_version"] == "2.0.0"
    pack(models, "v1", "1.0.1", 1, tmp_path / "1.0.1.tar.gz", downgrade=True)
    run("fleet", "publish", tmp_path / "1.0.1.tar.gz", "--fleet", FLEET)
    job = deploy(fleet, "1.0.1")
    ended(fleet, job, BOTH("SUCCEEDED"))
    for name, dev in devs.items():
        assert serves(dev.infer(models["v1"]["q"]), models, "v1")
        st, fields, image = device_slots.serving(dev.flash.read_bytes(), mcu.SECTOR, mcu.SLOT, fleet_key.public_key())
        assert fields["version"] == "1.0.1" and image == models["v1"]["image"] and st["counter"] == 2   # never lowered


def test_qemu_killed_during_staging_and_during_activation_restarts_serving_a_whole_image(models, fleet, tmp_path):
    """mcu-a stages in 64-byte frames (a wide window to land the kill in); its QEMU is killed (SIGKILL) after a few of them, and again
    once it is activating an update.  The bridge starts QEMU again from the flash file: each time a
    complete image the fleet signed serves (read back from the flash in Python too) and answers bit
    for bit; the job on mcu-a fails with the restart as its reason, mcu-b takes it."""
    run, aws, dev = fleet["run"], fleet["aws"], fleet["devices"]["mcu-a"]
    key = signing.load_public(str(models["keys"] / "signing.pub"))
    current = device_slots.serving(dev.flash.read_bytes(), mcu.SECTOR, mcu.SLOT, key)[1]["version"]
    tag_of = {models["v1"]["image"]: "v1", models["v2"]["image"]: "v2"}
    for version, tag, counter, when in (("5.0.0", "v2", 5, "staging chunk 6/"), ("6.0.0", "v1", 6, "activating")):
        pack(models, tag, version, counter, tmp_path / f"{version}.tar.gz")
        run("fleet", "publish", tmp_path / f"{version}.tar.gz", "--fleet", FLEET)
        seq = device_slots.state(dev.flash.read_bytes(), mcu.SECTOR)["seq"]
        mark = len(dev.log.read_text())
        pid = dev.qemu_pid()
        job = deploy(fleet, version)
        wait_for(f"'{when}' in mcu-a's log", lambda: when in dev.log.read_text()[mark:], timeout=120, every=0.005)
        os.kill(pid, signal.SIGKILL)
        wait_for("the job to end on both", lambda: all(s in ("SUCCEEDED", "FAILED") for s in executions(aws, job).values())
                 and len(executions(aws, job)) == 2, timeout=120)
        assert executions(aws, job)["mcu-b"] == "SUCCEEDED"
        wait_for("mcu-a restarted", lambda: "device restarted" in dev.log.read_text()[mark:], timeout=60)
        st, fields, image = device_slots.serving(dev.flash.read_bytes(), mcu.SECTOR, mcu.SLOT, key)
        assert fields["version"] in (current, version) and st["trial"] == 0
        assert fields["version"] != version or image == models[tag]["image"]
        assert serves(dev.infer(models[tag_of[image]]["q"]), models, tag_of[image])
        if executions(aws, job)["mcu-a"] == "FAILED":
            assert "restarted from its flash" in details(aws, job, "mcu-a")["reason"]
        other = 1 - st["active"]
        if when == "staging chunk 6/":             # half staged: the other slot holds no signed header
            assert fields["version"] == current and executions(aws, job)["mcu-a"] == "FAILED"
            with pytest.raises(SignatureError):
                device_slots.slot_image(dev.flash.read_bytes(), mcu.SECTOR, mcu.SLOT, other, key)
        elif fields["version"] == current:         # killed once staged: the new image is whole in the other slot
            staged, payload = device_slots.slot_image(dev.flash.read_bytes(), mcu.SECTOR, mcu.SLOT, other, key)
            assert staged["version"] == version and payload == models[tag]["image"]
        print(f"\nQEMU killed at '{when}': mcu-a's job {executions(aws, job)['mcu-a']}, serving {fields['version']} after the "
              f"restart; {st['seq'] - seq} state records written since the deploy")
        current = fields["version"]

