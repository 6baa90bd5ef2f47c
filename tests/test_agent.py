"""The device agent as real processes on 127.0.0.1: `edgec agent run` subprocesses serving gRPC on
unix sockets, the local cloud (`edgec cloud serve`), and clients (the CLI and edgec.agent.client).

Models: KWS DS-CNN and ResNet-8 from tests/data, built for cortex-m4 and packaged once per module;
every Predict is compared bit for bit with `edgec run --on host` of the same build."""
import base64
import ctypes
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from agent_proc import EDGEC, AgentProc, device_dir
from conftest import CASES, cli, one_line_error, read_json_line, require, wait_for
from edgec.agent import agent_pb2 as pb
from edgec.agent.client import AgentCallError, AgentClient
from edgec.package import archive as package, signing

BUCKET = "edgec-agent-ci"
FLEET = "agent-fleet"


def edgec(*args, env=None, check_json=False):
    r = subprocess.run(EDGEC + [str(a) for a in args], capture_output=True, text=True, env=env)
    if check_json:
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    return r


def _stop_dashboard(proc, browser, log):
    """Close the browser, stop `edgec dashboard --port` with SIGTERM: a clean stop exits 143, no traceback."""
    if browser:
        browser.close()
    proc.terminate()
    assert proc.wait(timeout=10) == 143
    assert "Traceback" not in log.read_text()


# ---- builds and packages (once per module) ----------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """kws 1.0.0, kws 2.0.0 (calibrated on other samples: other scales, other outputs), resnet 1.0.0;
    the key pair; the inputs and `edgec run --on host` outputs (float and raw) of each build."""
    require("cc")
    from edgec.driver.build import build
    from edgec.verification.verify import Built
    d = tmp_path_factory.mktemp("agent-models")
    signing.generate(str(d / "keys"))
    kws, resnet = CASES["kws"], CASES["resnet"]
    kws_x = kws.inputs()
    specs = {"kws-1.0.0": ("kws", "1.0.0", kws, kws.calibration()[:20], kws_x[:12]),
             "kws-2.0.0": ("kws", "2.0.0", kws, kws.calibration()[-20:] * np.float32(1.5), kws_x[:12]),
             "resnet-1.0.0": ("resnet", "1.0.0", resnet, resnet.calibration()[:16], resnet.inputs()[:8])}
    out = {"dir": d, "keys": d / "keys"}
    for tag, (name, version, case, calib, xs) in specs.items():
        w = d / tag
        w.mkdir()
        np.save(w / "calib.npy", calib)
        np.save(w / "inputs.npy", xs)
        build(case.path, "cortex-m4", str(w / "out"), str(w / "calib.npy"), name)
        package.create(str(w / "out"), name, version, str(d / "keys/signing.pem"), str(d / f"{tag}.tar.gz"))
        r = cli("run", w / "out", w / "inputs.npy", "--on", "host", "-o", w / "run_raw.npy", "--raw")
        assert r.returncode == 0, r.stderr
        raw = np.load(w / "run_raw.npy")
        out[tag] = {"pkg": d / f"{tag}.tar.gz", "out": w / "out", "calib": w / "calib.npy", "inputs": np.load(w / "inputs.npy"),
                    "float": Built(str(w / "out")).dequantize_output(raw), "raw": raw,
                    "manifest": package.verify(str(d / f"{tag}.tar.gz"), str(d / "keys/signing.pub"))["manifest"]}
    assert not np.array_equal(out["kws-1.0.0"]["float"], out["kws-2.0.0"]["float"])
    w = d / "kws-1.0.0"                                       # the float outputs are `edgec run`'s own too
    assert edgec("run", w / "out", w / "inputs.npy", "--on", "host", "-o", w / "run.npy").returncode == 0
    assert np.array_equal(np.load(w / "run.npy"), out["kws-1.0.0"]["float"].reshape(len(out["kws-1.0.0"]["inputs"]), -1))
    return out


def ram_of(m) -> int:
    return sum(m["manifest"]["memory"][k] for k in ("arena_bytes", "io_bytes", "weight_bytes"))


def tampered(src: Path, dst: Path, mutate) -> Path:
    """A copy of a package with `mutate(members)` applied, re-tarred (the signature left as it was)."""
    members = package.read_members(src.read_bytes(), str(src))
    mutate(members)
    dst.write_bytes(package.tar_gz(members))
    return dst


def flip_lib_byte(members):
    lib = bytearray(members["lib/libmodel.so"])
    lib[len(lib) // 2] ^= 0x01
    members["lib/libmodel.so"] = bytes(lib)


# ---- the agent on its own (captures to disk) -----------------------------------------------------

def test_load_predict_bit_exact_budget_and_status_codes(models, tmp_path):
    kws, kws2, resnet = models["kws-1.0.0"], models["kws-2.0.0"], models["resnet-1.0.0"]
    budget = ram_of(kws) + ram_of(resnet) + 1000              # both fit, a third model does not
    dev = device_dir(tmp_path, "bench-1", models)
    agent = AgentProc(dev / "agent.json", tmp_path / "a.sock", "--ram-budget", str(budget))
    env = {**os.environ, "EDGEC_AGENT_ADDRESS": agent.address}
    cenv = {"EDGEC_AGENT_ADDRESS": agent.address}
    try:
        assert agent.info["models"] == [] and agent.info["ram_budget_bytes"] == budget
        loaded = edgec("agent", "load", kws["pkg"], "--name", "kws", "--json", env=env, check_json=True)
        assert loaded["version"] == "1.0.0" and loaded["ram_bytes"] == ram_of(kws)
        assert loaded["key_id"] == signing.key_id(signing.load_public(str(models["keys"] / "signing.pub")))
        unpacked = tmp_path / "resnet-unpacked"                # LoadModel also takes an unpacked package directory
        with tarfile.open(resnet["pkg"]) as t:
            t.extractall(unpacked, filter="data")
        assert cli("agent", "load", unpacked, "--name", "resnet", env=cenv).returncode == 0
        listed = cli("agent", "list", "--json", env=cenv, check_json=True)
        assert [(m["name"], m["version"]) for m in listed] == [("kws", "1.0.0"), ("resnet", "1.0.0")]
        desc = cli("agent", "describe", "kws", "--json", env=cenv, check_json=True)
        spec = kws["manifest"]["inputs"][0]
        assert desc["inputs"] == [{"name": spec["name"], "data_type": "FLOAT32", "shape": spec["shape"],
                                   "scale": spec["scale"], "zero_point": spec["zero_point"],
                                   "division": spec.get("quantize", "float64")}]
        assert desc["outputs"][0]["shape"] == kws["manifest"]["outputs"][0]["shape"]

        # Predict equals `edgec run --on host` bit for bit: float32 in/out, and raw int8 in/out
        with agent.client() as c:
            for m, name in ((kws, "kws"), (resnet, "resnet")):
                got = np.stack([c.predict(name, x.reshape(m["manifest"]["inputs"][0]["shape"])) for x in m["inputs"]])
                assert got.dtype == np.float32 and np.array_equal(got.reshape(m["float"].shape), m["float"])
                spec = m["manifest"]["inputs"][0]
                from edgec.package.loaded import quantize
                raw = np.stack([c.predict(name, quantize(x.reshape(spec["shape"]), spec["scale"], spec["zero_point"]))
                                for x in m["inputs"]])
                assert raw.dtype == np.int8 and np.array_equal(raw.reshape(m["raw"].shape), m["raw"])
            # the CLI's predict is the same calls
            np.save(tmp_path / "kws_x.npy", kws["inputs"])
            r = cli("agent", "predict", "kws", tmp_path / "kws_x.npy", "-o", tmp_path / "kws_y.npy", "--json", env=cenv, check_json=True)
            assert r["samples"] == len(kws["inputs"]) and np.array_equal(np.load(tmp_path / "kws_y.npy"), kws["float"])

            # status codes of the retired agent
            def code(fn):
                with pytest.raises(AgentCallError) as e:
                    fn()
                return e.value.code, str(e.value)

            x = kws["inputs"][0].reshape(spec_kws := kws["manifest"]["inputs"][0]["shape"])
            assert code(lambda: c.predict("nope", x))[0] == "NOT_FOUND"
            assert code(lambda: c.predict("kws", x.reshape(1, 490)))[0] == "INVALID_ARGUMENT"
            bad_type = pb.Tensor(tensor_metadata=pb.TensorMetadata(data_type=pb.INT32, shape=spec_kws), byte_data=x.tobytes())
            assert code(lambda: c.predict_tensors("kws", bad_type)) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT: tensor type INT32 "
                                                                         "is not accepted by 'kws': send FLOAT32 (quantized by the agent) "
                                                                         "or INT8 (the model's own quantization)")
            short = pb.Tensor(tensor_metadata=pb.TensorMetadata(data_type=pb.FLOAT32, shape=spec_kws), byte_data=x.tobytes()[:-4])
            assert code(lambda: c.predict_tensors("kws", short))[0] == "INVALID_ARGUMENT"
            wrong_name = pb.Tensor(tensor_metadata=pb.TensorMetadata(name="nope", data_type=pb.FLOAT32, shape=spec_kws), byte_data=x.tobytes())
            assert code(lambda: c.predict_tensors("kws", wrong_name))[0] == "INVALID_ARGUMENT"
            # the retired clients' System V shared memory: the input read from a segment at an offset
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype, libc.shmat.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
            seg = libc.shmget(0, 4096, 0o600 | 0o1000)                  # IPC_PRIVATE, IPC_CREAT
            assert seg >= 0
            try:
                addr = libc.shmat(seg, None, 0)
                ctypes.memmove(addr + 64, x.astype("<f4").tobytes(), x.size * 4)
                handle = lambda off, size: pb.Tensor(tensor_metadata=pb.TensorMetadata(data_type=pb.FLOAT32, shape=spec_kws),
                                                     shared_memory_handle=pb.SharedMemoryHandle(segment_id=seg, offset=off, size=size))
                y = c.array(c.predict_tensors("kws", handle(64, x.size * 4)))
                assert np.array_equal(y.reshape(-1), kws["float"][0].reshape(-1))
                assert "past the end of segment" in code(lambda: c.predict_tensors("kws", handle(4000, x.size * 4)))[1]
                libc.shmdt(ctypes.c_void_p(addr))
            finally:
                libc.shmctl(seg, 0, None)                                 # IPC_RMID
            assert "does not exist" in code(lambda: c.predict_tensors("kws", handle(0, x.size * 4)))[1]
            assert code(lambda: c.load(str(kws["pkg"]), "kws"))[0] == "ALREADY_EXISTS"
            full = code(lambda: c.load(str(kws2["pkg"]), "kws-b"))
            assert full[0] == "RESOURCE_EXHAUSTED"
            assert f"kws 1.0.0 {ram_of(kws):,} B" in full[1] and f"resnet 1.0.0 {ram_of(resnet):,} B" in full[1]
            assert code(lambda: c.load(str(tmp_path / "missing.tar.gz"), "x"))[0] == "NOT_FOUND"
            assert code(lambda: c.load(str(kws["pkg"]), "bad_name"))[0] == "INVALID_ARGUMENT"
            c.unload("resnet")                                 # frees its RAM: now kws 2.0.0 fits beside kws 1.0.0
            # refused packages: altered library, foreign signing key, another device's CPU
            lib = tampered(kws2["pkg"], tmp_path / "lib.tar.gz", flip_lib_byte)
            assert code(lambda: c.load(str(lib), "kws-b")) [1].endswith("lib/libmodel.so does not match its sha256 in the manifest (altered)")
            signing.generate(str(tmp_path / "rogue"))
            package.create(str(kws2["out"]), "kws", "2.0.0", str(tmp_path / "rogue/signing.pem"), str(tmp_path / "rogue.tar.gz"))
            rogue = code(lambda: c.load(str(tmp_path / "rogue.tar.gz"), "kws-b"))
            assert rogue[0] == "FAILED_PRECONDITION" and "does not trust" in rogue[1]
            key = signing.load_private(str(models["keys"] / "signing.pem"))

            def other_cpu(members):                            # validly signed, but for an aarch64 device
                man = json.loads(members[package.MANIFEST])
                man["device_target"] = "linux-aarch64"
                members[package.MANIFEST] = signing.canonical_json(man)
                members[package.SIGNATURE] = signing.canonical_json(signing.sign(key, members[package.MANIFEST]))
            arm = code(lambda: c.load(str(tampered(kws2["pkg"], tmp_path / "arm.tar.gz", other_cpu)), "kws-b"))
            assert arm == ("FAILED_PRECONDITION", f"FAILED_PRECONDITION: {tmp_path / 'arm.tar.gz'}: package is built for "
                                                  f"linux-aarch64, this device is linux-x86_64")
            assert [m["name"] for m in c.list()] == ["kws"]   # nothing of the refused packages was loaded
            c.load(str(kws2["pkg"]), "kws-b")
            got = np.stack([c.predict("kws-b", x.reshape(spec_kws)) for x in kws2["inputs"]])
            assert np.array_equal(got.reshape(kws2["float"].shape), kws2["float"])
            c.unload("kws-b")
            assert code(lambda: c.unload("kws-b"))[0] == "NOT_FOUND"
            assert code(lambda: c.predict("kws-b", x))[0] == "NOT_FOUND"

        one_line_error(cli("agent", "describe", "resnet", env=cenv), "NOT_FOUND", "no model named 'resnet'")
        one_line_error(cli("agent", "load", lib, "--name", "kws-c", env=cenv), "FAILED_PRECONDITION", "altered")
        one_line_error(cli("agent", "predict", "kws", tmp_path / "none.npy", env=cenv), "none.npy")
        one_line_error(cli("agent", "list", "-a", f"unix://{tmp_path}/nobody.sock"), "no agent answers")
        one_line_error(cli("agent", "list", "-a", "unix:relative.sock"), "unix:///ABSOLUTE/PATH")
        one_line_error(cli("agent", "run", "-c", tmp_path / "missing.json", "-a", f"unix://{tmp_path}/x.sock"), "missing.json")
    finally:
        agent.stop()
    # a restarted agent serves what was loaded (the library re-verified from its package)
    agent = AgentProc(dev / "agent.json", tmp_path / "a.sock", "--ram-budget", str(budget))
    try:
        assert agent.info["models"] == ["kws"]
        with agent.client() as c:
            assert np.array_equal(c.predict("kws", kws["inputs"][3].reshape(spec_kws)), kws["float"][3].reshape(1, -1))
    finally:
        agent.stop()


def test_concurrent_clients_get_exact_answers(models, tmp_path):
    """Eight clients at once on two models (calls into one model serialized, the two in parallel):
    every answer is the one `edgec run` gives; prints the measured latency and throughput."""
    kws, resnet = models["kws-1.0.0"], models["resnet-1.0.0"]
    agent = AgentProc(device_dir(tmp_path, "bench-2", models) / "agent.json", tmp_path / "c.sock")
    try:
        with agent.client() as c:
            c.load(str(kws["pkg"]), "kws")
            c.load(str(resnet["pkg"]), "resnet")
        errors, lat = [], []

        def hammer(i):
            m, name = (kws, "kws") if i % 2 else (resnet, "resnet")
            shape = m["manifest"]["inputs"][0]["shape"]
            with AgentClient(agent.address) as c:
                for k in range(30):
                    j = (i + k) % len(m["inputs"])
                    t0 = time.perf_counter()
                    y = c.predict(name, m["inputs"][j].reshape(shape))
                    lat.append((name, time.perf_counter() - t0))
                    if not np.array_equal(y.reshape(-1), m["float"][j].reshape(-1)):
                        errors.append((name, j))
        t0 = time.perf_counter()
        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        assert errors == [] and len(lat) == 240
        with agent.client() as c:
            assert {m["name"]: m["inference_count"] for m in c.list()} == {"kws": 120, "resnet": 120}
        for name in ("kws", "resnet"):
            ms = sorted(1e3 * s for n, s in lat if n == name)
            print(f"\n{name}: Predict p50 {ms[len(ms) // 2]:.2f} ms, p95 {ms[int(0.95 * len(ms))]:.2f} ms under 8 clients")
        print(f"{len(lat) / wall:.0f} Predict/s with 8 concurrent clients")
    finally:
        agent.stop()


def test_capture_spool_statuses_and_kill9(models, tmp_path):
    """CaptureData's status codes; a full buffer answers RESOURCE_EXHAUSTED; what was acknowledged
    survives kill -9 and is written out by the next start, in FLEET.md's layout (destination Disk)."""
    kws = models["kws-1.0.0"]
    shape = kws["manifest"]["inputs"][0]["shape"]
    dev = device_dir(tmp_path, "bench-3", models, buffer_size=4, batch_size=10, periodic_upload=False)
    agent = AgentProc(dev / "agent.json", tmp_path / "s.sock")
    ids = []
    with agent.client() as c:
        c.load(str(kws["pkg"]), "kws")
        t_in = c.tensor(kws["inputs"][0].reshape(shape), "input_1")
        t_out = c.predict_tensors("kws", t_in)
        for _ in range(3):
            ids.append(c.capture("kws", [t_in], [t_out], aux_inputs=[pb.AuxilaryData(name="label", encoding=pb.JSON, byte_data=b'{"y": 3}')]))
        np.save(tmp_path / "one.npy", kws["inputs"][:1])           # the CLI's Predict + CaptureData
        r = cli("agent", "predict", "kws", tmp_path / "one.npy", "--capture", "-a", agent.address, "--json", check_json=True)
        assert len(r["capture_ids"]) == 1 and r["top1"] == [int(kws["float"][0].argmax())]
        ids += r["capture_ids"]

        def code(fn):
            with pytest.raises(AgentCallError) as e:
                fn()
            return e.value.code
        assert code(lambda: c.capture("kws", [t_in], [t_out])) == "RESOURCE_EXHAUSTED"
        assert code(lambda: c.capture("kws", [t_in], [t_out], capture_id="not-a-uuid")) == "INVALID_ARGUMENT"
        assert code(lambda: c.capture("kws", [t_in], [t_out], capture_id=ids[0])) == "ALREADY_EXISTS"
        assert code(lambda: c.capture("kws", [t_in], [t_out], when=time.time() + 3600)) == "OUT_OF_RANGE"
        assert code(lambda: c.capture("kws", [t_in], [t_out], when=-2.0 ** 63)) == "INVALID_ARGUMENT"       # not a Timestamp
        bad_nanos = pb.CaptureDataRequest(model_name="kws", capture_id=str(uuid.uuid4()), input_tensors=[t_in], output_tensors=[t_out],
                                          inference_timestamp=pb.Timestamp(seconds=int(time.time()), nanos=-1))
        assert code(lambda: c._call("CaptureData", bad_nanos)) == "INVALID_ARGUMENT"
        assert code(lambda: c.capture("nope", [t_in], [t_out])) == "NOT_FOUND"
        # what is captured has the model's declared shapes, types and sizes
        md_out = t_out.tensor_metadata
        short = pb.Tensor(tensor_metadata=md_out, byte_data=t_out.byte_data[:-4])
        other = c.tensor(kws["inputs"][0].reshape(1, -1))
        int32 = pb.Tensor(tensor_metadata=pb.TensorMetadata(data_type=pb.INT32, shape=list(md_out.shape)), byte_data=t_out.byte_data)
        for bad in ([t_in], [short]), ([other], [t_out]), ([t_in], [int32]), ([t_in, t_in], [t_out]):
            assert code(lambda: c.capture("kws", *bad)) == "INVALID_ARGUMENT"
        assert [c.capture_status(i) for i in ids] == ["IN_PROGRESS"] * 4
        assert c.capture_status(str(uuid.uuid4())) == "NOT_FOUND"
    one_line_error(cli("agent", "run", "-c", dev / "agent.json", "-a", agent.address), "another process serves")
    agent.kill9()
    cfg = json.loads((dev / "agent.json").read_text())
    cfg.update({"sagemaker_edge_core_capture_data_periodic_upload": True, "sagemaker_edge_core_capture_data_push_period_seconds": 0.2})
    (dev / "agent.json").write_text(json.dumps(cfg))
    agent = AgentProc(dev / "agent.json", tmp_path / "s.sock")
    try:
        env = {"EDGEC_AGENT_ADDRESS": agent.address}
        deadline = time.time() + 20
        while time.time() < deadline and cli("agent", "capture-status", ids[-1], "--json", env=env, check_json=True)["status"] != "SUCCESS":
            time.sleep(0.3)
        with agent.client() as c:
            assert [c.capture_status(i) for i in ids] == ["SUCCESS"] * 4
    finally:
        agent.stop()
    files = sorted((dev / "capture" / "demo_capture" / "bench" / "kws").rglob("*.jsonl"))
    assert len(files) == 1
    parts = files[0].relative_to(dev / "capture").parts            # demo_capture/bench/kws/YYYY/MM/DD/HH/<batch>.jsonl
    assert len(parts) == 8 and [len(p) for p in parts[3:7]] == [4, 2, 2, 2]
    recs = [json.loads(l) for l in files[0].read_text().splitlines()]
    assert sorted(r["eventMetadata"]["eventId"] for r in recs) == sorted(ids)
    assert all(base64.b64decode(r["deviceFleetOutputs"][0]["data"]) == kws["float"][0].astype("<f4").tobytes() for r in recs)
    r = next(r for r in recs if r["eventMetadata"]["eventId"] == ids[0])
    assert r["eventVersion"] == "0" and r["eventMetadata"]["modelVersion"] == "1.0.0" and r["eventMetadata"]["deviceId"] == "bench-3"
    assert r["deviceFleetInputs"][0]["observedContentType"] == "Tensor[FLOAT32; 1, 49, 10, 1]"
    assert base64.b64decode(r["deviceFleetInputs"][0]["data"]) == kws["inputs"][0].astype("<f4").tobytes()
    assert r["deviceFleetAuxiliaryInputs"] == [{"name": "label", "data": base64.b64encode(b'{"y": 3}').decode(),
                                                "encoding": "JSON", "mode": "Input"}]
    assert not list((dev / "capture" / "spool").iterdir())


def test_hostile_packages_are_refused_in_little_memory(models, tmp_path):
    """LoadModel streams its check as `edgec package verify` does: a 2 GiB bomb (alone or behind a
    validly signed head), appended bytes, an unpacked file far larger than signed (a sparse 2 GiB
    lib/libmodel.so) are refused without the agent's peak memory growing; a manifest.sig whose
    key_id is a list is INVALID_ARGUMENT, not UNKNOWN."""
    from bombs import GIB, gzip_bomb, vm_hwm
    kws = models["kws-1.0.0"]
    good = kws["pkg"].read_bytes()
    files = package.read_members(good, "kws")
    head = package.head(files)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(kws["pkg"]) as t:
        t.extractall(unpacked, filter="data")
    os.truncate(unpacked / "lib" / "libmodel.so", 2 * GIB)
    sig = json.loads(files[package.SIGNATURE])
    cases = {"bomb alone": gzip_bomb("lib/libmodel.so"), "bomb behind the signed head": head + gzip_bomb("lib/libmodel.so"),
             "appended bytes": good + b"\0" * 1024,
             "key_id a list": package.tar_gz({**files, package.SIGNATURE: signing.canonical_json({**sig, "key_id": [sig["key_id"]]})})}
    agent = AgentProc(device_dir(tmp_path, "bench-h", models) / "agent.json", tmp_path / "h.sock")
    try:
        with agent.client() as c:
            c.load(str(kws["pkg"]), "kws")
            base = vm_hwm(agent.proc.pid)
            got = {}
            for what, data in cases.items():
                bad = tmp_path / f"{what.replace(' ', '_')}.tar.gz"
                bad.write_bytes(data)
                with pytest.raises(AgentCallError) as e:
                    c.load(str(bad), "bad")
                got[what] = e.value.code
            with pytest.raises(AgentCallError) as e:
                c.load(str(unpacked), "bad")
            assert "lib/libmodel.so has 2,147,483,648 bytes" in str(e.value)
            got["sparse 2 GiB library"] = e.value.code
            peak = vm_hwm(agent.proc.pid)
            assert [m["name"] for m in c.list()] == ["kws"]
        print(f"\nagent peak RSS {base} MiB before the hostile packages, {peak} MiB after")
        assert got == {"bomb alone": "FAILED_PRECONDITION", "bomb behind the signed head": "FAILED_PRECONDITION",
                       "appended bytes": "FAILED_PRECONDITION", "key_id a list": "INVALID_ARGUMENT",
                       "sparse 2 GiB library": "FAILED_PRECONDITION"}
        assert peak < base + 50, (base, peak)
    finally:
        agent.stop()


def test_load_model_never_goes_back_a_version(models, tmp_path):
    """Anti-rollback on LoadModel: once kws 2.0.0 was accepted under the name kws, kws 1.0.0 (validly
    signed) is refused under that name, also after a restart; the record is the agent's state."""
    v1, v2 = models["kws-1.0.0"], models["kws-2.0.0"]
    dev = device_dir(tmp_path, "bench-r", models)
    agent = AgentProc(dev / "agent.json", tmp_path / "r.sock")
    try:
        with agent.client() as c:
            c.load(str(v1["pkg"]), "kws")
            c.unload("kws")
            c.load(str(v2["pkg"]), "kws")
            c.unload("kws")
            with pytest.raises(AgentCallError) as e:
                c.load(str(v1["pkg"]), "kws")
            assert e.value.code == "FAILED_PRECONDITION" and "kws 1.0.0 is older than 2.0.0" in str(e.value)
            assert "anti-rollback" in str(e.value) and "--allow-downgrade-from 2.0.0" in str(e.value)
            c.load(str(v2["pkg"]), "kws")                       # the same version again is fine
    finally:
        agent.stop()
    record = json.loads((dev / "agent-state" / "versions.json").read_text())
    assert record["kws"]["version"] == "2.0.0"
    agent.start()
    try:
        with agent.client() as c:
            assert c.describe("kws")["version"] == "2.0.0"
            c.unload("kws")
            with pytest.raises(AgentCallError) as e:
                c.load(str(v1["pkg"]), "kws")
            assert e.value.code == "FAILED_PRECONDITION" and "older than 2.0.0" in str(e.value)
    finally:
        agent.stop()
    (dev / "agent-state" / "versions.json").write_text("{not json")       # never silently starts over
    one_line_error(edgec("agent", "run", "-c", dev / "agent.json", "-a", f"unix://{tmp_path}/r2.sock"),
                   "version record is unreadable", "move it away")


def test_modes_do_not_depend_on_the_umask(models, tmp_path):
    """An agent started with umask 000 on its default address: the socket is 0660 in a run directory
    it made 0750 under $XDG_RUNTIME_DIR (never /tmp), its state, models and capture directories are
    0700 with 0600 files, and the library it runs exists only as a sealed memfd (no file anyone
    could swap between the check and the load; even its owner cannot write it through /proc)."""
    kws = models["kws-1.0.0"]
    mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)
    dev = device_dir(tmp_path, "bench-m", models, periodic_upload=False)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "EDGEC_AGENT_ADDRESS"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    log = tmp_path / "m.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["agent", "run", "-c", str(dev / "agent.json"), "--json"], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env, umask=0)
    sock = runtime / "edgec" / "agent.sock"
    try:
        info = read_json_line(proc, "edgec agent run", log)
        assert info["address"] == f"unix://{sock}"
        assert mode(sock.parent) == 0o750 and stat.S_ISSOCK(os.lstat(sock).st_mode) and mode(sock) == 0o660
        loaded = edgec("agent", "load", kws["pkg"], "--name", "kws", "--json", env=env, check_json=True)   # the client's default too
        assert loaded["version"] == "1.0.0"
        with AgentClient(info["address"]) as c:
            shape = kws["manifest"]["inputs"][0]["shape"]
            c.predict_and_capture("kws", kws["inputs"][0].reshape(shape))
        state, capture = dev / "agent-state", dev / "capture"
        for d in (state, dev / "models", capture, capture / "spool", capture / "batches"):
            assert mode(d) == 0o700, d
        files = [state / "models.json", state / "versions.json", *(capture / "spool").iterdir()]
        assert len(files) == 3 and all(mode(f) == 0o600 for f in files), [(f, oct(mode(f))) for f in files]
        assert sorted(p.name for p in state.iterdir()) == ["models.json", "versions.json"]        # no library scratch
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "/memfd:edgec-kws" in maps and str(dev) not in maps and ".so" not in "".join(
            l for l in maps.splitlines() if str(tmp_path) in l)
        memfds = [f"/proc/{proc.pid}/fd/{fd}" for fd in os.listdir(f"/proc/{proc.pid}/fd")
                  if os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith("/memfd:edgec-kws")]
        assert len(memfds) == 1
        with pytest.raises(PermissionError):               # sealed: no write, not even by root through /proc
            with open(memfds[0], "r+b", buffering=0) as f:
                f.write(b"\x7fELF")
        with open(memfds[0], "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == kws["manifest"]["files"]["lib/libmodel.so"]["sha256"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 143, log.read_text()   # stopped by SIGTERM, cleanly
    assert "Traceback" not in log.read_text()
    shared = tmp_path / "shared"                           # a directory others may write, as /tmp: refused
    shared.mkdir()
    shared.chmod(0o1777)
    one_line_error(edgec("agent", "run", "-c", dev / "agent.json", "-a", f"unix://{shared}/agent.sock"), "writable by others")
    home = {**env, "HOME": str(tmp_path / "home")}
    home.pop("XDG_RUNTIME_DIR")
    r = subprocess.run([sys.executable, "-c", "from edgec.agent.server import DEFAULT_ADDRESS as a; print(a)"],
                       capture_output=True, text=True, env=home)
    assert r.stdout.strip() == f"unix://{tmp_path}/home/.local/state/edgec/run/agent.sock", r.stderr


def test_a_full_disk_refuses_a_capture_cleanly_and_the_spool_has_a_byte_budget(models, tmp_path):
    """The agent runs under a file size limit (RLIMIT_FSIZE 128 KiB), which cuts a write short and
    fails the next with EFBIG, as a filling disk does: a 200 KB capture is RESOURCE_EXHAUSTED and
    leaves nothing (no partial record, no .tmp), and the agent goes on.  Small captures then fill
    the spool's byte budget (edgec_capture_spool_bytes), which answers RESOURCE_EXHAUSTED too."""
    import resource
    kws = models["kws-1.0.0"]
    shape = kws["manifest"]["inputs"][0]["shape"]
    dev = device_dir(tmp_path, "bench-f", models, periodic_upload=False, batch_size=1000, buffer_size=1000)
    cfg = json.loads((dev / "agent.json").read_text())
    cfg["edgec_capture_spool_bytes"] = 250_000
    (dev / "agent.json").write_text(json.dumps(cfg))
    spool = dev / "capture" / "spool"
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (128 << 10, 128 << 10))
    agent = AgentProc(dev / "agent.json", tmp_path / "f.sock", preexec=limit)
    try:
        with agent.client() as c:
            c.load(str(kws["pkg"]), "kws")
            t_in = c.tensor(kws["inputs"][0].reshape(shape), "input_1")
            t_out = c.predict_tensors("kws", t_in)
            frame = pb.AuxilaryData(name="frame", encoding=pb.NONE, byte_data=os.urandom(150_000))
            with pytest.raises(AgentCallError) as e:
                c.capture("kws", [t_in], [t_out], aux_inputs=[frame])
            assert e.value.code == "RESOURCE_EXHAUSTED" and "no room to spool the capture" in str(e.value), str(e.value)
            assert list(spool.iterdir()) == []
            ids = []
            while True:
                try:
                    ids.append(c.capture("kws", [t_in], [t_out]))
                except AgentCallError as err:
                    full = err
                    break
            assert full.code == "RESOURCE_EXHAUSTED" and "of 250,000 bytes wait for upload" in str(full), str(full)
            files = sorted(spool.iterdir())
            assert len(files) == len(ids) > 10 and sum(f.stat().st_size for f in files) <= 250_000
            assert {json.loads(f.read_bytes())["eventMetadata"]["eventId"] for f in files} == set(ids)   # each whole
            assert {c.capture_status(i) for i in ids} == {"IN_PROGRESS"}
    finally:
        agent.stop()


def test_inference_counts_survive_a_restart(models, tmp_path):
    """DescribeModel's inference_count (and the heartbeat's) goes on after the agent restarts."""
    kws = models["kws-1.0.0"]
    shape = kws["manifest"]["inputs"][0]["shape"]
    agent = AgentProc(device_dir(tmp_path, "bench-n", models) / "agent.json", tmp_path / "n.sock")
    try:
        with agent.client() as c:
            c.load(str(kws["pkg"]), "kws")
            for x in kws["inputs"][:5]:
                c.predict("kws", x.reshape(shape))
    finally:
        agent.stop()
    agent.start()
    try:
        with agent.client() as c:
            assert c.describe("kws")["inference_count"] == 5
            c.predict("kws", kws["inputs"][0].reshape(shape))
            assert c.list()[0]["inference_count"] == 6
    finally:
        agent.stop()


def test_protobuf_code_is_what_the_proto_generates():
    """agent_pb2*.py are checked in; the generator command rebuilds exactly them."""
    r = subprocess.run([sys.executable, "-m", "edgec.agent.protogen", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_protobuf_check_ignores_only_the_generators_version_stamps():
    """A grpcio-tools patch release (1.85.1 -> 1.85.4) restamps the files and nothing else: the check
    must pass on either, and still catch a change to the code itself."""
    from edgec.agent.protogen import HERE, unstamped
    grpc_code = (HERE / "agent_pb2_grpc.py").read_text()
    msg_code = (HERE / "agent_pb2.py").read_text()
    restamped = grpc_code.replace(grpc_code.split("GRPC_GENERATED_VERSION = ")[1].split("\n")[0], "'1.85.4'")
    assert restamped != grpc_code and unstamped(restamped) == unstamped(grpc_code)
    bumped = msg_code.replace("# Protobuf Python Version: ", "# Protobuf Python Version: 9.").replace(
        "Domain.PUBLIC,\n    7,", "Domain.PUBLIC,\n    9,")
    assert bumped != msg_code and unstamped(bumped) == unstamped(msg_code)
    edited = grpc_code.replace("def Predict(", "def Predict2(", 1)
    assert edited != grpc_code and unstamped(edited) != unstamped(grpc_code)


# ---- the fleet: local cloud, two devices, rollouts, captures to S3 --------------------------------

@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent-cloud")
    log = d / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["cloud", "serve", "--port", "0", "--state", d / "state", "--json"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    info = read_json_line(proc, "edgec cloud serve", log, 30)
    yield info
    proc.terminate()
    assert proc.wait(timeout=10) == 143, log.read_text()   # stopped by SIGTERM, cleanly
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def aws(cloud):
    kw = dict(endpoint_url=cloud["endpoint_url"], region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}))
    return {s: boto3.client(s, **kw) for s in ("iot", "s3", "iot-data")}


def executions(aws, job_id):
    return {e["thingArn"].rsplit("/", 1)[-1]: e["jobExecutionSummary"]["status"]
            for e in aws["iot"].list_job_executions_for_job(jobId=job_id)["executionSummaries"]}


@pytest.fixture(scope="module")
def fleet_env(models, cloud, aws, tmp_path_factory):
    """The issue's proof, set up: fleet create -> register 2 devices -> two agents with their bundles
    -> publish KWS and ResNet-8 -> deploy both -> both agents load both within their RAM budget."""
    d = tmp_path_factory.mktemp("agent-fleet")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["EDGEC_AWS_ENDPOINT"] = cloud["endpoint_url"]
    cenv = {"EDGEC_AWS_ENDPOINT": cloud["endpoint_url"]}
    run = lambda *a: cli(*a, "--json", env=cenv, check_json=True)
    run("fleet", "create", FLEET, "--bucket", BUCKET, "--pubkey", models["keys"] / "signing.pub", "--output", f"s3://{BUCKET}/demo_capture")
    run("fleet", "register", FLEET, "dev-a", "dev-b", "--out", d / "devices")
    budget = ram_of(models["kws-1.0.0"]) + ram_of(models["resnet-1.0.0"]) + ram_of(models["kws-2.0.0"]) + 4096
    agents = {}
    for name in ("dev-a", "dev-b"):
        cfg_file = d / "devices" / name / "agent.json"
        cfg = json.loads(cfg_file.read_text())
        cfg.update({"edgec_jobs_poll_seconds": 0.5, "edgec_heartbeat_seconds": 1, "edgec_ram_budget_bytes": budget,
                    "sagemaker_edge_core_capture_data_buffer_size": 64, "sagemaker_edge_core_capture_data_push_period_seconds": 4})
        cfg_file.write_text(json.dumps(cfg, indent=2))
        agents[name] = AgentProc(cfg_file, d / f"{name}.sock", env=env)
        assert agents[name].info["rollouts"] is True
    for tag in ("kws-1.0.0", "resnet-1.0.0"):
        run("fleet", "publish", models[tag]["pkg"], "--fleet", FLEET)
    jobs = {}
    for name in ("kws", "resnet"):
        jobs[name] = run("fleet", "deploy", FLEET, "--model", name, "--version", "1.0.0")["job_id"]
    for job in jobs.values():
        wait_for(f"job {job}", lambda: executions(aws, job) == {"dev-a": "SUCCEEDED", "dev-b": "SUCCEEDED"})
    yield {"dir": d, "env": env, "cenv": cenv, "run": run, "agents": agents, "jobs": jobs, "budget": budget}
    for a in agents.values():
        a.stop()


def test_rollout_loads_both_models_and_predictions_match_edgec_run(fleet_env, models, aws):
    for name, agent in fleet_env["agents"].items():
        with agent.client() as c:
            assert [(m["name"], m["version"]) for m in c.list()] == [("kws", "1.0.0"), ("resnet", "1.0.0")]
            for tag, model in (("kws-1.0.0", "kws"), ("resnet-1.0.0", "resnet")):
                m = models[tag]
                shape = m["manifest"]["inputs"][0]["shape"]
                got = np.stack([c.predict(model, x.reshape(shape)) for x in m["inputs"]])
                assert np.array_equal(got.reshape(m["float"].shape), m["float"])
        installed = fleet_env["dir"] / "devices" / name / "models"
        assert sorted(str(p.relative_to(installed)) for p in installed.glob("*/*")) == ["kws/1.0.0", "resnet/1.0.0"]
        for p in [installed, *installed.rglob("*")]:                  # whatever the agent's umask
            assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
        ex = aws["iot"].describe_job_execution(jobId=fleet_env["jobs"]["kws"], thingName=name)["execution"]
        assert ex["statusDetails"]["detailsMap"] == {"model_name": "kws", "model_version": "1.0.0", "previous_version": "none"}


@pytest.fixture(scope="module")
def captured(fleet_env, models, aws):
    """PredictAndCapture 50 times on dev-a (KWS and ResNet-8 alternating; the ResNet inputs darkened
    from the 10th on, for the drift monitor to find), with a kill -9 of the agent after the 25th
    while captures still wait in its spool; restarted, it uploads them."""
    agent = fleet_env["agents"]["dev-a"]
    ids, sent = [], {}
    with agent.client() as c:
        for i in range(50):
            if i == 25:
                pending = [cid for cid in ids if c.capture_status(cid) == "IN_PROGRESS"]
                assert pending, "nothing was waiting in the spool: the kill would prove nothing"
                agent.kill9()
                agent.start()
                assert agent.info["models"] == ["kws", "resnet"]
                c.close()
                c = agent.client()
            tag, name = ("kws-1.0.0", "kws") if i % 2 == 0 else ("resnet-1.0.0", "resnet")
            m = models[tag]
            x = m["inputs"][(i // 2) % len(m["inputs"])].reshape(m["manifest"]["inputs"][0]["shape"])
            if name == "resnet" and i >= 20:
                x = x * np.float32(0.25)
            y, cid = c.predict_and_capture(name, x)
            ids.append(cid)
            sent[cid] = (name, x, y)
        wait_for("all captures uploaded", lambda: all(c.capture_status(i) == "SUCCESS" for i in ids), timeout=40, every=0.5)
        c.close()
    return {"ids": ids, "sent": sent, "pending_at_kill": pending}


def test_captures_reach_s3_in_the_documented_layout_none_lost_across_kill9(captured, aws):
    s3 = aws["s3"]
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"demo_capture/{FLEET}/")
            for o in p.get("Contents", [])]
    records = {}
    for k in keys:
        parts = k.split("/")                      # demo_capture/<fleet>/<model>/YYYY/MM/DD/HH/<object>
        assert len(parts) == 8 and parts[2] in ("kws", "resnet") and [len(p) for p in parts[3:7]] == [4, 2, 2, 2], k
        if k.endswith(".jsonl"):
            for line in s3.get_object(Bucket=BUCKET, Key=k)["Body"].read().decode().splitlines():
                r = json.loads(line)
                assert r["eventMetadata"]["eventId"] not in records, "a capture was uploaded twice"
                records[r["eventMetadata"]["eventId"]] = r
    assert sorted(records) == sorted(captured["ids"])             # every acknowledged capture, once
    for cid, (name, x, y) in captured["sent"].items():
        r = records[cid]
        meta = r["eventMetadata"]
        assert (meta["deviceFleetName"], meta["deviceId"], meta["modelName"], meta["modelVersion"]) == (FLEET, "dev-a", name, "1.0.0")
        (inp,), (out,) = r["deviceFleetInputs"], r["deviceFleetOutputs"]
        assert inp["mode"] == "Input" and out["mode"] == "Output"
        assert inp["observedContentType"] == "Tensor[FLOAT32; " + ", ".join(map(str, x.shape)) + "]"
        if name == "kws":                          # 1,960 bytes: inline
            data = base64.b64decode(inp["data"])
        else:                                      # 12,288 bytes > the 3 KB embed limit: its own object
            assert "data" not in inp and inp["dataLocation"].startswith(f"s3://{BUCKET}/demo_capture/{FLEET}/resnet/")
            data = s3.get_object(Bucket=BUCKET, Key=inp["dataLocation"].split("/", 3)[3])["Body"].read()
        assert data == x.astype("<f4").tobytes()
        assert base64.b64decode(out["data"]) == y.astype("<f4").tobytes()


def test_v2_rolls_out_under_load_and_a_tampered_package_leaves_v2_serving(fleet_env, models, aws, tmp_path):
    run, agents = fleet_env["run"], fleet_env["agents"]
    v1, v2 = models["kws-1.0.0"], models["kws-2.0.0"]
    shape = v1["manifest"]["inputs"][0]["shape"]
    stop, results, failures = threading.Event(), {"v1": 0, "v2": 0}, []

    def keep_predicting(agent):
        with AgentClient(agent.address) as c:
            k = 0
            while not stop.is_set():
                j = k % len(v1["inputs"])
                try:
                    y = c.predict("kws", v1["inputs"][j].reshape(shape)).reshape(-1)
                except AgentCallError as e:
                    failures.append(str(e))
                    continue
                if np.array_equal(y, v1["float"][j].reshape(-1)):
                    results["v1"] += 1
                elif np.array_equal(y, v2["float"][j].reshape(-1)):
                    results["v2"] += 1
                else:
                    failures.append(f"sample {j}: neither v1's nor v2's output")
                k += 1
    threads = [threading.Thread(target=keep_predicting, args=(a,)) for a in agents.values()]
    for t in threads:
        t.start()
    try:
        run("fleet", "publish", v2["pkg"], "--fleet", FLEET)
        job = run("fleet", "deploy", FLEET, "--model", "kws", "--version", "2.0.0")["job_id"]
        wait_for("v2 rollout", lambda: executions(aws, job) == {"dev-a": "SUCCEEDED", "dev-b": "SUCCEEDED"})
        before = results["v2"]
        wait_for("v2 answers", lambda: results["v2"] > before + 20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [] and results["v1"] > 0 and results["v2"] > 0
    for agent in agents.values():
        with agent.client() as c:
            assert {m["name"]: m["version"] for m in c.list()} == {"kws": "2.0.0", "resnet": "1.0.0"}

    # someone who can write the bucket and create jobs, but has no signing key, ships an altered library
    bad = tampered(v2["pkg"], tmp_path / "kws-3.0.0.tar.gz", lambda m: (flip_lib_byte(m), m.__setitem__(
        package.MANIFEST, m[package.MANIFEST].replace(b'"version":"2.0.0"', b'"version":"3.0.0"'))))
    data = bad.read_bytes()
    key = "models/kws/3.0.0/kws-3.0.0.tar.gz"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    doc = {"type": "new_model", "model_name": "kws", "model_version": "3.0.0", "model_package_bucket": BUCKET,
           "model_package_key": key, "model_package_sha256": package.sha256(data), "fleet": FLEET}
    group = aws["iot"].describe_thing_group(thingGroupName=FLEET)["thingGroupArn"]
    aws["iot"].create_job(jobId="tampered-kws-3", targets=[group], document=json.dumps(doc))
    wait_for("tampered job to fail", lambda: executions(aws, "tampered-kws-3") == {"dev-a": "FAILED", "dev-b": "FAILED"})
    for name, agent in agents.items():
        details = aws["iot"].describe_job_execution(jobId="tampered-kws-3", thingName=name)["execution"]["statusDetails"]["detailsMap"]
        assert "signature" in details["reason"] and details["running_version"] == "2.0.0", details
        with agent.client() as c:
            assert c.describe("kws")["version"] == "2.0.0"
            y = c.predict("kws", v2["inputs"][0].reshape(shape))
            assert np.array_equal(y.reshape(-1), v2["float"][0].reshape(-1))
        assert not (fleet_env["dir"] / "devices" / name / "models" / "kws" / "3.0.0").exists()


def test_a_bomb_behind_a_job_fails_it_in_little_memory(fleet_env, models, aws, tmp_path):
    """Someone who can write the bucket and create jobs ships a 2 MB package holding a 2 GiB member
    behind a validly signed head: each device streams it to a temporary file, refuses it without
    inflating it, reports FAILED, leaves no file behind and keeps serving what it served."""
    from bombs import gzip_bomb, vm_hwm
    agents = fleet_env["agents"]
    files = package.read_members(models["kws-1.0.0"]["pkg"].read_bytes(), "kws")
    data = package.head(files) + gzip_bomb("lib/libmodel.so")
    key = "models/kws/9.0.0/kws-9.0.0.tar.gz"
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    doc = {"type": "new_model", "model_name": "kws", "model_version": "9.0.0", "model_package_bucket": BUCKET,
           "model_package_key": key, "model_package_sha256": package.sha256(data), "fleet": FLEET}
    before = {name: vm_hwm(a.proc.pid) for name, a in agents.items()}
    running = {}
    for name, a in agents.items():
        with a.client() as c:
            running[name] = c.describe("kws")["version"]
    group = aws["iot"].describe_thing_group(thingGroupName=FLEET)["thingGroupArn"]
    aws["iot"].create_job(jobId="bomb-kws", targets=[group], document=json.dumps(doc))
    wait_for("the bomb job to fail", lambda: executions(aws, "bomb-kws") == {"dev-a": "FAILED", "dev-b": "FAILED"})
    for name, a in agents.items():
        details = aws["iot"].describe_job_execution(jobId="bomb-kws", thingName=name)["execution"]["statusDetails"]["detailsMap"]
        assert details["reason"].endswith("file missing from the package: edgec_model.npz"), details   # lib/ sorts after it
        peak = vm_hwm(a.proc.pid)
        print(f"\n{name}: peak RSS {before[name]} MiB before the bomb job, {peak} MiB after")
        assert peak < before[name] + 50
        with a.client() as c:
            assert c.describe("kws")["version"] == running[name]
        kws_dir = fleet_env["dir"] / "devices" / name / "models" / "kws"
        assert sorted(p.name for p in kws_dir.iterdir()) == sorted({"1.0.0", running[name]})


def test_an_older_version_needs_a_signed_downgrade_allowance(fleet_env, models, aws, tmp_path):
    """Both devices run kws 2.0.0.  Deploying 1.0.0 (validly signed) fails on each; so do allowances
    signed by a stranger, altered after signing, or for another package.  The fleet key's allowance
    from 2.0.0 rolls them back; once they run 4.0.0 (and after a restart) that allowance, replayed, is refused."""
    run, agents, keys = fleet_env["run"], fleet_env["agents"], models["keys"]
    v1 = models["kws-1.0.0"]
    shape = v1["manifest"]["inputs"][0]["shape"]
    iot = aws["iot"]

    def versions():
        out = {}
        for name, a in agents.items():
            with a.client() as c:
                out[name] = c.describe("kws")["version"]
        return out

    def reasons(job):
        wait_for(f"job {job} to fail", lambda: executions(aws, job) == {"dev-a": "FAILED", "dev-b": "FAILED"})
        return {n: iot.describe_job_execution(jobId=job, thingName=n)["execution"]["statusDetails"]["detailsMap"]["reason"]
                for n in agents}

    assert versions() == {"dev-a": "2.0.0", "dev-b": "2.0.0"}
    job = run("fleet", "deploy", FLEET, "--model", "kws", "--version", "1.0.0", "--job-id", "kws-back-to-1")["job_id"]
    for reason in reasons(job).values():
        assert "kws 1.0.0 is older than 2.0.0" in reason and "anti-rollback" in reason, reason
    assert versions() == {"dev-a": "2.0.0", "dev-b": "2.0.0"}

    base = json.loads(iot.get_job_document(jobId=job)["document"])
    fleet_key = signing.load_private(str(keys / "signing.pem"))
    signing.generate(str(tmp_path / "rogue"))
    rogue = signing.load_private(str(tmp_path / "rogue/signing.pem"))
    sha = base["model_package_sha256"]
    altered = package.downgrade_allowance(fleet_key, "kws", "1.0.0", sha, "2.0.0")
    altered["allowance"]["from_version"] = "9.9.9"
    forged = {"stranger": (package.downgrade_allowance(rogue, "kws", "1.0.0", sha, "2.0.0"), "does not trust"),
              "altered": (altered, "does not verify"),
              "other package": (package.downgrade_allowance(fleet_key, "kws", "1.0.0", "0" * 64, "2.0.0"), "is for model_package_sha256")}
    group = iot.describe_thing_group(thingGroupName=FLEET)["thingGroupArn"]
    for what, (allowance, words) in forged.items():
        jid = f"kws-forged-{what.replace(' ', '-')}"
        iot.create_job(jobId=jid, targets=[group], document=json.dumps({**base, "downgrade": allowance}))
        for reason in reasons(jid).values():
            assert words in reason, (what, reason)
    assert versions() == {"dev-a": "2.0.0", "dev-b": "2.0.0"}
    cenv = fleet_env["cenv"]
    one_line_error(cli("fleet", "deploy", FLEET, "--model", "kws", "--version", "1.0.0", "--allow-downgrade-from", "0.9",
                       "--key", keys / "signing.pem", env=cenv), "is not newer than --version 1.0.0")
    one_line_error(cli("fleet", "deploy", FLEET, "--model", "kws", "--version", "1.0.0", "--allow-downgrade-from", "2.0.0",
                       env=cenv), "needs --key")
    one_line_error(cli("fleet", "deploy", FLEET, "--model", "kws", "--version", "1.0.0", "--allow-downgrade-from", "2.0.0",
                       "--key", tmp_path / "rogue/signing.pem", env=cenv), "not the fleet's package key")

    back = run("fleet", "deploy", FLEET, "--model", "kws", "--version", "1.0.0", "--allow-downgrade-from", "2.0.0",
               "--key", keys / "signing.pem", "--job-id", "kws-rollback-to-1")["job_id"]
    wait_for("the rollback", lambda: executions(aws, back) == {"dev-a": "SUCCEEDED", "dev-b": "SUCCEEDED"})
    assert versions() == {"dev-a": "1.0.0", "dev-b": "1.0.0"}
    for a in agents.values():
        with a.client() as c:
            assert np.array_equal(c.predict("kws", v1["inputs"][0].reshape(shape)).reshape(-1), v1["float"][0].reshape(-1))

    package.create(str(models["kws-2.0.0"]["out"]), "kws", "4.0.0", str(keys / "signing.pem"), str(tmp_path / "kws-4.0.0.tar.gz"))
    run("fleet", "publish", tmp_path / "kws-4.0.0.tar.gz", "--fleet", FLEET)
    up = run("fleet", "deploy", FLEET, "--model", "kws", "--version", "4.0.0")["job_id"]
    wait_for("4.0.0", lambda: executions(aws, up) == {"dev-a": "SUCCEEDED", "dev-b": "SUCCEEDED"})
    agents["dev-b"].stop()
    agents["dev-b"].start()
    replay = json.loads(iot.get_job_document(jobId=back)["document"])
    iot.create_job(jobId="kws-replayed-rollback", targets=[group], document=json.dumps(replay))
    for reason in reasons("kws-replayed-rollback").values():
        assert "older than 4.0.0" in reason and "allowance is from 2.0.0, not 4.0.0" in reason, reason
    assert versions() == {"dev-a": "4.0.0", "dev-b": "4.0.0"}


def test_old_versions_are_pruned_and_an_interrupted_rollout_leaves_nothing(fleet_env):
    """After 1.0.0, 2.0.0, the rollback to 1.0.0 and 4.0.0, each device keeps two versions of kws (the
    running one and the newest other: edgec_models_retain); what a rollout killed midway leaves under
    models/ (its staging directory, a version it was swapping out) is gone when the agent starts."""
    for name in ("dev-a", "dev-b"):
        kws = fleet_env["dir"] / "devices" / name / "models" / "kws"
        assert sorted(p.name for p in kws.iterdir()) == ["1.0.0", "4.0.0"], name
    agent = fleet_env["agents"]["dev-a"]
    kws = fleet_env["dir"] / "devices" / "dev-a" / "models" / "kws"
    agent.kill9()
    staging, swapped = kws / ".5.0.0-k2j4x9ab", kws / ".4.0.0-old-4242"
    (staging / "lib").mkdir(parents=True)
    (staging / "lib" / "libmodel.so").write_bytes(b"\x7fELF half written")
    shutil.copytree(kws / "4.0.0", swapped)
    agent.start()
    assert sorted(p.name for p in kws.iterdir()) == ["1.0.0", "4.0.0"]
    assert f"removed {staging}, left by an interrupted rollout" in agent.log.read_text()
    with agent.client() as c:
        assert c.describe("kws")["version"] == "4.0.0"


def test_fleet_status_shows_agents_models_and_jobs(fleet_env, captured, aws):
    wait_for("heartbeats with the captures uploaded", lambda: all(
        (d.get("agent") or {}).get("capture", {}).get("uploaded", 0) >= (50 if d["name"] == "dev-a" else 0)
        for d in fleet_env["run"]("fleet", "status", FLEET)["devices"]), timeout=20, every=1)
    st = fleet_env["run"]("fleet", "status", FLEET)
    by = {d["name"]: d for d in st["devices"]}
    for name in ("dev-a", "dev-b"):
        a = by[name]["agent"]
        assert a["device"] == name and a["fleet"] == FLEET and a["ram_budget_bytes"] == fleet_env["budget"]
        assert {m["name"] for m in a["models"]} == {"kws", "resnet"}
        assert all(m["inferences"] >= 0 and "p95" in m["latency_ms"] for m in a["models"])
        assert a["capture"]["backlog"] == 0
    assert any(m["name"] == "resnet" and m["inferences"] >= 12 for m in by["dev-a"]["agent"]["models"])   # since the kill -9
    table = cli("fleet", "status", FLEET, env=fleet_env["cenv"])
    assert table.returncode == 0, table.stderr
    assert "agent dev-a: heartbeat" in table.stdout and "resnet 1.0.0" in table.stdout


def test_monitor_drift_finds_the_darkened_camera(fleet_env, captured, models, tmp_path):
    """ResNet-8's captures from the 10th on are 4x darker than its calibration data: significant
    input drift.  KWS sees its own calibration samples: stable."""
    run = fleet_env["run"]
    res = run("monitor", "drift", "--fleet", FLEET, "--model", "resnet", "--baseline", models["resnet-1.0.0"]["calib"])
    assert res["captures"] == 25 and res["devices"] == ["dev-a"] and res["versions"] == ["1.0.0"]
    assert res["feature_axis"] == 3 and len(res["features"]) == 3                  # the RGB channels of NHWC
    assert res["drift"] == "significant" and min(f["psi"] for f in res["features"]) > 0.25
    assert all(f["mean"] < 0.7 * f["baseline_mean"] for f in res["features"])     # 15 of 25 at a quarter
    assert res["outputs"]["classes"] == 10 and abs(sum(res["outputs"]["captured_share"]) - 1) < 1e-9
    assert sum(h["count"] for h in res["outputs"]["by_hour"]) == 25
    np.save(tmp_path / "kws_base.npy", models["kws-1.0.0"]["inputs"])
    kws = run("monitor", "drift", "--fleet", FLEET, "--model", "kws", "--baseline", tmp_path / "kws_base.npy")
    assert kws["captures"] == 25 and kws["feature_axis"] == 2 and len(kws["features"]) == 10
    assert kws["max_feature_psi"] < 0.1 and kws["outputs"]["psi"] < 0.1 and kws["drift"] == "stable"
    table = cli("monitor", "drift", "--fleet", FLEET, "--model", "resnet", "--baseline", models["resnet-1.0.0"]["calib"], env=fleet_env["cenv"])
    assert table.returncode == 0 and "input drift: SIGNIFICANT" in table.stdout, table.stderr
    one_line_error(cli("monitor", "drift", "--fleet", FLEET, "--model", "nope", "--baseline", tmp_path / "kws_base.npy",
                       env=fleet_env["cenv"]), "no captures of model 'nope'")
    one_line_error(cli("monitor", "drift", "--fleet", FLEET, "--model", "kws", "--baseline", models["resnet-1.0.0"]["calib"],
                       env=fleet_env["cenv"]), "do not fit the model input")


def test_dashboard_shows_the_fleet_in_chromium(fleet_env, captured, models, tmp_path):
    require("chromium")
    from chromium import Chromium
    env, baselines = fleet_env["env"], ["--baseline", f"resnet={models['resnet-1.0.0']['calib']}"]
    written = cli("dashboard", "--fleet", FLEET, "--out", tmp_path / "dash", *baselines, "--json", env=fleet_env["cenv"], check_json=True)
    assert written["devices"] == 2 and written["models"] == 2
    data = json.loads((tmp_path / "dash" / "data.json").read_text())
    assert {m["name"]: m["captures"] for m in data["models"]} == {"kws": 25, "resnet": 25}
    log = tmp_path / "dashboard.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["dashboard", "--fleet", FLEET, "--port", "0", *baselines, "--json"],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    browser = None
    with fleet_env["agents"]["dev-a"].client() as c:
        serving = sorted(f"{m['name']} {m['version']}" for m in c.list())
    try:
        url = read_json_line(proc, "edgec dashboard", log)["url"]
        browser = Chromium(tmp_path / "profile")
        pages = {}
        for name, target in (("served", url), ("file", (tmp_path / "dash" / "index.html").as_uri())):
            s = browser.open(target)
            pages[name] = browser.evaluate(s, """({
                devices: [...document.querySelectorAll('tr.device')].map(r => r.dataset.device),
                models: [...document.querySelectorAll('tr.device[data-device="dev-a"] .model')].map(e => e.textContent),
                heartbeat: document.querySelector('tr.device[data-device="dev-a"] td:last-child').textContent,
                jobs: [...document.querySelectorAll('tr.job')].map(r => r.textContent),
                charts: document.querySelectorAll('svg.chart').length,
                bars: document.querySelectorAll('svg.chart rect.bar').length,
                drift: (document.querySelector('.card[data-model="resnet"] .drift') || {}).textContent,
                title: document.title})""")
            if name == "served":
                png = browser.screenshot(s, tmp_path / "dashboard.png")
                assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
        assert browser.errors() == []
        for p in pages.values():
            assert p["devices"] == ["dev-a", "dev-b"] and p["title"] == f"edgec fleet {FLEET}"
            assert sorted(m.split(" ·")[0] for m in p["models"]) == serving          # what the agent serves
            assert "s ago" in p["heartbeat"] or "min ago" in p["heartbeat"]
            assert sum("COMPLETED" in j for j in p["jobs"]) >= 2                    # the two 1.0.0 rollouts at least
            assert p["charts"] >= 4 and p["bars"] > 10                      # class shares per model, PSI and shares for resnet
            assert p["drift"].startswith("input drift: significant")
    finally:
        _stop_dashboard(proc, browser, log)
    one_line_error(cli("dashboard", "--fleet", "no-such-fleet", "--out", tmp_path / "x", env=fleet_env["cenv"]), "no fleet 'no-such-fleet'")


# ---- images in, detections out: the agent and the dashboard -------------------------------------

@pytest.fixture(scope="module")
def yolo_pkg(models, tmp_path_factory):
    """yolo-fastest built with --labels coco.names (host target: no MCU budget) and packaged with the
    module's key; `edgec run`'s answers on darknet's two photos, which the agent must give too."""
    from conftest import DATA, extra
    d = tmp_path_factory.mktemp("yolo-pkg")
    dog = np.load(DATA / "yolo-fastest-1.1_dog320_input_NCHW.npy").transpose(0, 2, 3, 1)
    np.save(d / "calib.npy", np.concatenate([dog, extra("yolo_crops") / np.float32(255)]).astype(np.float32))
    cli("build", DATA / "yolo-fastest-1.1.cfg", "-t", "host", "-o", d / "out", "-c", d / "calib.npy",
        "--labels", DATA / "coco.names", "--json", check_json=True)
    cli("package", d / "out", "--name", "yolo", "--version", "1.0.0", "--key", models["keys"] / "signing.pem",
        "-o", d / "yolo.tar.gz", "--json", check_json=True)
    photos = [DATA / "dog.jpg", DATA / "person.jpg"]
    run = cli("run", d / "out", *photos, "-o", d / "run.npy", "--json", check_json=True)
    manifest = package.verify(str(d / "yolo.tar.gz"), str(models["keys"] / "signing.pub"))["manifest"]
    return {"pkg": d / "yolo.tar.gz", "out": d / "out", "photos": photos, "results": run["results"],
            "outputs": np.load(d / "run.npy"), "manifest": manifest, "labels": (DATA / "coco.names").read_text().splitlines()}


def test_agent_predict_takes_photos_and_answers_with_detections(models, yolo_pkg, tmp_path):
    """`edgec agent predict yolo dog.jpg` (which once failed with numpy's allow_pickle text): the
    package tells the client how to preprocess and decode; the answers are `edgec run`'s, exactly."""
    man = yolo_pkg["manifest"]
    assert man["preprocess"]["from"] == "darknet [net]: pixels / 255" and man["labels"] == yolo_pkg["labels"]
    assert man["decode"]["kind"] == "yolo" and man["decode"]["classes"] == 80
    agent = AgentProc(device_dir(tmp_path, "cam-0", models) / "agent.json", tmp_path / "y.sock")
    env = {"EDGEC_AGENT_ADDRESS": agent.address}
    dog, person = yolo_pkg["photos"]
    try:
        assert cli("agent", "load", yolo_pkg["pkg"], "--name", "yolo", env=env).returncode == 0
        assert cli("agent", "load", models["kws-1.0.0"]["pkg"], "--name", "kws", env=env).returncode == 0
        desc = cli("agent", "describe", "yolo", "--json", env=env, check_json=True)
        assert (desc["preprocess"], desc["decode"], desc["labels"]) == (man["preprocess"], man["decode"], man["labels"])
        text = cli("agent", "describe", "yolo", env=env).stdout
        assert "images in: RGB 320x320 NHWC, pixel * 0.00392157" in text and "answers: detections of 80 classes (person," in text
        r = cli("agent", "predict", "yolo", dog, person, "-o", tmp_path / "y.npy", "--results", tmp_path / "found.json",
                "--json", env=env, check_json=True)
        assert r["samples"] == 2 and r["results"] == yolo_pkg["results"] and "top1" not in r
        assert np.array_equal(np.load(tmp_path / "y.npy"), yolo_pkg["outputs"])
        assert json.loads((tmp_path / "found.json").read_text()) == {"results": yolo_pkg["results"]}
        dets = r["results"][0]["detections"]
        assert r["results"][0]["width"] == 768 and all(0 <= d["box"][0] < d["box"][2] <= 768 for d in dets)
        assert "dog" in {d["label"] for d in dets}
        raw = cli("agent", "predict", "yolo", dog, "--raw", "--json", env=env, check_json=True)
        assert raw["dtype"] == "int8" and raw["results"] == yolo_pkg["results"][:1]
        text = cli("agent", "predict", "yolo", dog, env=env)
        assert text.returncode == 0 and f"{dog} (768x576): {len(dets)} detections\n" in text.stdout
        # a classifier's answers over the agent: top-k (KWS takes MFCC arrays, not images)
        np.save(tmp_path / "kws.npy", models["kws-1.0.0"]["inputs"][:2])
        k = cli("agent", "predict", "kws", tmp_path / "kws.npy", "--top-k", "2", "--json", env=env, check_json=True)
        want = models["kws-1.0.0"]["float"][:2].reshape(2, -1)
        assert [[t["class"] for t in row["top"]] for row in k["results"]] == np.argsort(-want, axis=1, kind="stable")[:, :2].tolist()
        (tmp_path / "cut.jpg").write_bytes(dog.read_bytes()[:3000])
        one_line_error(cli("agent", "predict", "yolo", tmp_path / "cut.jpg", env=env), "cut.jpg", "not a readable image")
        one_line_error(cli("agent", "predict", "kws", dog, env=env), "dog.jpg", "model 'kws' takes no images")
    finally:
        agent.stop()


def test_dashboard_counts_detections_per_class_label(models, yolo_pkg, cloud, aws, tmp_path):
    """A detector's captures on the dashboard: detections per class label (decoded with the published
    manifest's spec), not the index of its largest raw output."""
    require("chromium")
    from chromium import Chromium
    fleet, bucket = "img-fleet", "edgec-images-ci"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env["EDGEC_AWS_ENDPOINT"] = cloud["endpoint_url"]
    cenv = {"EDGEC_AWS_ENDPOINT": cloud["endpoint_url"]}
    run = lambda *a: cli(*a, "--json", env=cenv, check_json=True)
    run("fleet", "create", fleet, "--bucket", bucket, "--pubkey", models["keys"] / "signing.pub", "--output", f"s3://{bucket}/captures")
    run("fleet", "register", fleet, "cam-1", "--out", tmp_path / "devices")
    run("fleet", "publish", yolo_pkg["pkg"], "--fleet", fleet)
    cfg_file = tmp_path / "devices" / "cam-1" / "agent.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.update({"edgec_jobs_poll_seconds": 0, "edgec_heartbeat_seconds": 1, "sagemaker_edge_core_capture_data_push_period_seconds": 0.5})
    cfg_file.write_text(json.dumps(cfg))
    agent = AgentProc(cfg_file, tmp_path / "cam-1.sock", env=env)
    try:
        aenv = {"EDGEC_AGENT_ADDRESS": agent.address}
        assert cli("agent", "load", yolo_pkg["pkg"], "--name", "yolo", env=aenv).returncode == 0
        r = cli("agent", "predict", "yolo", *yolo_pkg["photos"], "--capture", "--json", env=aenv, check_json=True)
        with agent.client() as c:
            wait_for("captures uploaded", lambda: all(c.capture_status(i) == "SUCCESS" for i in r["capture_ids"]), timeout=40)

        def dashboard():
            run("dashboard", "--fleet", fleet, "--out", tmp_path / "dash")
            data = json.loads((tmp_path / "dash" / "data.json").read_text())
            return next((m for m in data["models"] if m["name"] == "yolo"), None)
        m = wait_for("the agent's heartbeat naming yolo", dashboard, timeout=30, every=1)
    finally:
        agent.stop()
    found = [d for row in yolo_pkg["results"] for d in row["detections"]]
    counts = {}
    for d in found:
        counts[d["label"]] = counts.get(d["label"], 0) + 1
    assert m["captures"] == 2 and m["kind"] == "detections"
    assert m["classes"] == [d["label"] for d in sorted({d["class"]: d for d in found}.values(), key=lambda d: d["class"])]
    got = {}
    for h in m["by_hour"]:
        for label, n in h["classes"].items():
            got[label] = got.get(label, 0) + n
    assert got == counts and {"dog", "person", "car"} <= set(got)
    browser = Chromium(tmp_path / "profile")
    try:
        s = browser.open((tmp_path / "dash" / "index.html").as_uri())
        card = browser.evaluate(s, """(() => { const c = document.querySelector('.card[data-model="yolo"] svg.chart');
            return {title: c.getAttribute('aria-label'),
                    legend: [...c.querySelectorAll('text')].map(t => t.textContent).filter(t => /^[a-z]/.test(t))}; })()""")
        assert browser.errors() == []
    finally:
        browser.close()
    assert card["title"] == "detections per class per hour"
    assert [t for t in card["legend"] if t in counts] == m["classes"]
    assert not any(t.startswith("class ") for t in card["legend"])


def test_bad_records_and_reports_are_skipped_and_counted(fleet_env, captured, models, aws, tmp_path):
    """One bad record no longer breaks the fleet's monitoring: a stray .jsonl, lines that are not JSON
    or not capture records, a tensor whose bytes do not fit its content type, a record of another
    model, one shaped for another input, and a device whose heartbeat has no latency_ms.  `fleet
    status`, `monitor drift` and `dashboard` (real processes) each skip and count them."""
    s3, run, env = aws["s3"], fleet_env["run"], fleet_env["env"]
    prefix = f"demo_capture/{FLEET}/kws/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"] if o["Key"].endswith(".jsonl"))
    good = json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().decode().splitlines()[0])

    def variant(**change):
        r = json.loads(json.dumps(good))
        for path, value in change.items():
            *outer, last = path.split("__")
            d = r
            for k in outer:
                d = d[int(k)] if isinstance(d, list) else d[k]
            d[last] = value
        return json.dumps(r)
    out = good["deviceFleetOutputs"][0]
    lines = ["this is not json", json.dumps({"eventVersion": "0"}),
             variant(deviceFleetOutputs__0__data=base64.b64encode(base64.b64decode(out["data"])[:-4]).decode()),
             variant(eventMetadata__modelName="resnet"),
             variant(deviceFleetInputs__0__observedContentType="Tensor[FLOAT32; 1, 5]",
                     deviceFleetInputs__0__data=base64.b64encode(bytes(20)).decode())]
    s3.put_object(Bucket=BUCKET, Key=keys[0].rsplit("/", 1)[0] + "/zz-bad-batch.jsonl", Body="\n".join(lines).encode())
    s3.put_object(Bucket=BUCKET, Key=prefix + "notes.jsonl", Body=b"a stray object\n")
    run("fleet", "register", FLEET, "dev-c", "--out", fleet_env["dir"] / "devices")
    report = {"device": "dev-c", "fleet": FLEET, "heartbeat": "2030-01-01T00:00:00Z",
              "models": [{"name": "kws", "version": "1.0.0", "inferences": 3}, "junk", {"version": "2"}]}
    aws["iot-data"].update_thing_shadow(thingName="dev-c", shadowName="edgec-agent",
                                        payload=json.dumps({"state": {"reported": report}}).encode())

    table = edgec("fleet", "status", FLEET, env=env)
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    assert "None ms" not in table.stdout and "kws 1.0.0 (3 inferences, no latency yet)" in table.stdout, table.stdout
    assert "skipped 3 bad agent report entries" in table.stdout
    st = edgec("fleet", "status", FLEET, "--json", env=env, check_json=True)
    assert st["skipped"] == {"agent model entry without a name": 2, "agent model entry without latency_ms": 1}

    np.save(tmp_path / "kws_base.npy", models["kws-1.0.0"]["inputs"])
    res = edgec("monitor", "drift", "--fleet", FLEET, "--model", "kws", "--baseline", tmp_path / "kws_base.npy", "--json",
                env=env, check_json=True)
    assert res["captures"] == 25 and res["drift"] == "stable"
    assert res["skipped"] == {"no eventMetadata with an inferenceTime": 1, "not JSON": 1, "object outside the capture layout": 1,
                              "record of another model": 1, "shape not the model's 1.0.0": 1, "tensor bytes do not match its shape": 1}
    text = edgec("monitor", "drift", "--fleet", FLEET, "--model", "kws", "--baseline", tmp_path / "kws_base.npy", env=env)
    assert text.returncode == 0 and "skipped 6 bad records" in text.stdout, text.stderr

    dash = edgec("dashboard", "--fleet", FLEET, "--out", tmp_path / "dash", "--json", env=env, check_json=True)
    assert dash["devices"] == 3
    data = json.loads((tmp_path / "dash" / "data.json").read_text())
    kws = next(m for m in data["models"] if m["name"] == "kws")
    assert kws["captures"] == 26 and sum(kws["skipped"].values()) == 5          # the odd-shaped record is a capture of kws
    dev_c = next(d for d in data["status"]["devices"] if d["name"] == "dev-c")["agent"]
    assert "ram_used_bytes" not in dev_c and "uptime_s" not in dev_c        # absent stays absent: the page formats numbers



def test_the_dashboard_escapes_what_it_embeds_and_answers_only_its_own_host(fleet_env, models, aws, tmp_path):
    """A device's report carries `<!--<script>` and `</script><script>...</script>`: the page still
    renders every device in Chromium (served, and from disk) and shows those strings as text, running
    none of them.  The served dashboard answers 403 to a Host header other than localhost, 127.0.0.1
    or its bound address with its port (a DNS-rebinding page), and 200 to those."""
    require("chromium")
    import http.client
    from chromium import Chromium
    env, run = fleet_env["env"], fleet_env["run"]
    run("fleet", "register", FLEET, "dev-c", "--out", fleet_env["dir"] / "devices")      # (made by the test before, if it ran)
    hostile, closing = "<!--<script>", "</script><script>window.pwned = 1</script>"
    report = {"device": "dev-c", "fleet": FLEET, "heartbeat": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "models": [{"name": "kws", "version": hostile, "inferences": 1, "latency_ms": {"p50": 1.0, "p95": 2.0}},
                         {"name": closing, "version": "1", "inferences": 0, "latency_ms": {}}]}
    aws["iot-data"].update_thing_shadow(thingName="dev-c", shadowName="edgec-agent", payload=json.dumps({"state": {"reported": report}}).encode())
    edgec("dashboard", "--fleet", FLEET, "--out", tmp_path / "dash", "--json", env=env, check_json=True)
    text = (tmp_path / "dash" / "index.html").read_text()
    assert hostile not in text and "</script><script>" not in text and "\\u003c!--\\u003cscript\\u003e" in text
    log = tmp_path / "dashboard.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(EDGEC + ["dashboard", "--fleet", FLEET, "--port", "0", "--json"], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env)
    browser = None
    try:
        url = read_json_line(proc, "edgec dashboard", log)["url"]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        browser = Chromium(tmp_path / "profile")
        for target in (url, (tmp_path / "dash" / "index.html").as_uri()):
            s = browser.open(target)
            got = browser.evaluate(s, """({
                devices: [...document.querySelectorAll('tr.device')].map(r => r.dataset.device),
                models: [...document.querySelectorAll('tr.device[data-device="dev-c"] .model')].map(e => e.textContent),
                pwned: window.pwned === 1, scripts: document.scripts.length})""")
            assert got["devices"] == ["dev-a", "dev-b", "dev-c"], (target, got)
            assert any(hostile in m for m in got["models"]) and any(closing in m for m in got["models"]), got
            assert got["pwned"] is False and got["scripts"] == 2
        assert browser.errors() == []

        def get(host):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/data.json", headers={"Host": host})
                return conn.getresponse().status
            finally:
                conn.close()
        assert {h: get(h) for h in (f"evil.example:{port}", f"localhost:{port + 1}", "localhost.evil.example", f"localhost:{port}",
                                    f"127.0.0.1:{port}", f"[::1]:{port}")} == {
            f"evil.example:{port}": 403, f"localhost:{port + 1}": 403, "localhost.evil.example": 403,
            f"localhost:{port}": 200, f"127.0.0.1:{port}": 200, f"[::1]:{port}": 200}
    finally:
        _stop_dashboard(proc, browser, log)
