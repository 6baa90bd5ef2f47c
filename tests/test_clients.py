"""The agent's clients in other languages, as Edge Manager offered them: Go and C++ built from
agent/agent.proto with the distribution's packaged gRPC (clients/build.sh), each run against a live
`edgec agent run`: their Predict answers are byte for byte the Python client's (which
tests/test_agent.py holds to `edgec run`), their CaptureData is accepted, and an error comes back as
its gRPC status code."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import require
from edgec.package import archive as package, signing
from agent_proc import AgentProc, device_dir

REPO = Path(__file__).resolve().parent.parent
CLIENTS = ("go", "cpp")


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """Both clients, built side by side (each takes a while to compile)."""
    require("protoc", "go", "protoc-gen-go", "protoc-gen-go-grpc", "grpc_cpp_plugin", "g++", "pkg-config")
    d = tmp_path_factory.mktemp("clients")
    procs = {c: subprocess.Popen([str(REPO / "clients/build.sh"), str(d), c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for c in CLIENTS}
    for c, p in procs.items():
        out = p.communicate(timeout=600)[0]
        assert p.returncode == 0, f"clients/build.sh {c}:\n{out}"
    return {c: d / f"edgec-agent-{c}" for c in CLIENTS}


@pytest.fixture(scope="module")
def agent(built, tmp_path_factory):
    """An agent (captures to disk) serving the digits CNN, packaged with a fresh key."""
    out, inputs, _ = built("digits_cnn")
    d = tmp_path_factory.mktemp("clients-agent")
    signing.generate(str(d / "keys"))
    package.create(str(out), "digits", "1.0.0", str(d / "keys/signing.pem"), str(d / "digits.tar.gz"))
    dev = device_dir(d, "dev", {"keys": d / "keys"})
    a = AgentProc(dev / "agent.json", d / "agent.sock")
    with a.client() as c:
        c.load(str(d / "digits.tar.gz"), "digits")
    yield {"agent": a, "inputs": np.load(inputs), "dir": d}
    a.stop()


@pytest.mark.parametrize("lang", CLIENTS)
def test_a_client_in_another_language_predicts_and_captures_as_the_python_one(lang, clients, agent, tmp_path):
    a = agent["agent"]
    with a.client() as c:
        spec = c.describe("digits")["inputs"][0]
        answers = []
        for i, x in enumerate(agent["inputs"][:5]):
            x = np.asarray(x, np.float32).reshape(spec["shape"])
            (tmp_path / "in.f32").write_bytes(x.astype("<f4").tobytes())
            r = subprocess.run([str(clients[lang]), a.address, "digits", str(tmp_path / "in.f32"), str(tmp_path / "out.f32")],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            info = json.loads(r.stdout)
            got = np.frombuffer((tmp_path / "out.f32").read_bytes(), "<f4")
            want = c.predict("digits", x).astype("<f4").reshape(-1)
            assert np.array_equal(got, want), (lang, i)                # the same bytes as the Python client
            assert info["client"] == lang and info["models"] == ["digits"] and info["version"] == "1.0.0"
            assert info["input_shape"] == spec["shape"] and info["output_type"] == "FLOAT32"
            assert info["capture_status"] in ("IN_PROGRESS", "SUCCESS")
            assert c.capture_status(info["capture_id"]) in ("IN_PROGRESS", "SUCCESS")
            answers.append(int(got.argmax()))
    print(f"\n{lang} client: top-1 {answers} on 5 digits, each byte-identical to the Python client's answer")
    r = subprocess.run([str(clients[lang]), a.address, "no-such-model", str(tmp_path / "in.f32"), str(tmp_path / "out.f32")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and json.loads(r.stdout)["error"] == "NOT_FOUND", r.stdout + r.stderr
