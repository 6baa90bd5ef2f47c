"""`edgec keygen` / `edgec package` / `edgec package verify` as users run them: a real build packaged,
its library run, and every kind of tampering refused with one line and a non-zero exit."""
import ctypes
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization

from conftest import one_line_error, require
from edgec.cli.main import main
from edgec.fleet.package import tar_gz

EDGEC = [sys.executable, "-m", "edgec.cli.main"]


def edgec(*args):
    """The command as users run it: a new interpreter, `python -m edgec.cli.main`."""
    return subprocess.run(EDGEC + [str(a) for a in args], capture_output=True, text=True)


def cli(*args):
    """The same main() in this process (same parsing, errors and output, without an interpreter
    start-up per call): for the many verify runs below."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}, tar.getmembers()


@pytest.fixture(scope="module")
def pkg(built, tmp_path_factory):
    """A cortex-m4 build of the digits CNN, a key pair, and its package."""
    require("cc")
    out, inputs, report = built("digits_cnn")
    d = tmp_path_factory.mktemp("pkg")
    r = edgec("keygen", "-o", d / "keys", "--json")
    assert r.returncode == 0, r.stderr
    r = edgec("package", out, "--name", "kws", "--version", "1.2.0", "--key", d / "keys/signing.pem",
              "-o", d / "kws-1.2.0.tar.gz", "--device-target", "linux-x86_64", "--json")
    assert r.returncode == 0, r.stderr
    return {"dir": d, "out": out, "inputs": inputs, "report": report, "path": d / "kws-1.2.0.tar.gz",
            "pub": d / "keys/signing.pub", "key": d / "keys/signing.pem", "summary": json.loads(r.stdout)}


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    r = edgec("keygen", "-o", tmp_path / "k", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert stat.S_IMODE(os.stat(tmp_path / "k/signing.pem").st_mode) == 0o600
    pub = serialization.load_pem_public_key((tmp_path / "k/signing.pub").read_bytes())
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert info["algorithm"] == "ed25519" and info["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    one_line_error(edgec("keygen", "-o", tmp_path / "k"), "refusing to overwrite")
    one_line_error(edgec("keygen", "-o", tmp_path / "k2", "--algorithm", "rsa"), "unknown algorithm")


def test_package_holds_the_build_and_a_signed_manifest(pkg):
    files, infos = members(pkg["path"])
    out, report = pkg["out"], pkg["report"]
    src = {f"src/{p.name}" for p in out.iterdir() if p.suffix in (".c", ".h") or p.name in ("CMakeLists.txt", "edgec.mk")}
    assert set(files) == src | {"manifest.json", "manifest.sig", "report.json", "edgec_model.npz", "lib/libmodel.so"}
    assert [i.name for i in infos][:2] == ["manifest.json", "manifest.sig"]
    assert all(i.mtime == 0 and i.uid == 0 and i.gid == 0 and i.uname == "" and i.gname == "" and i.mode == 0o644 for i in infos)
    m = json.loads(files["manifest.json"])
    assert files["manifest.json"] == json.dumps(m, sort_keys=True, separators=(",", ":")).encode()    # canonical bytes
    assert (m["name"], m["version"], m["target"], m["device_target"]) == ("kws", "1.2.0", "cortex-m4", "linux-x86_64")
    assert m["source_sha256"] == report["source_sha256"] and m["edgec_version"] == report["edgec_version"]
    assert m["entry"] == f"edgec_{report['model']}_run" and m["library"] == "lib/libmodel.so"
    for spec, rep in ((m["inputs"][0], report["input"]), (m["outputs"][0], report["output"])):
        assert {k: spec[k] for k in ("name", "shape", "dtype", "scale", "zero_point")} == {k: rep[k] for k in ("name", "shape", "dtype", "scale", "zero_point")}
    assert m["memory"]["arena_bytes"] == report["totals"]["arena_bytes"] and m["memory"]["weight_bytes"] == report["totals"]["weight_bytes"]
    for path, meta in m["files"].items():
        assert meta == {"sha256": hashlib.sha256(files[path]).hexdigest(), "size": len(files[path])}
    for name in ("model.c", "weights.c", "model.h"):
        assert files[f"src/{name}"] == (out / name).read_bytes()
    sig = json.loads(files["manifest.sig"])
    assert sig["algorithm"] == "ed25519" and sig["key_id"] == pkg["summary"]["key_id"]
    r = cli("package", "verify", pkg["path"], "--pubkey", pkg["pub"], "--json")
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v["sha256"] == hashlib.sha256(pkg["path"].read_bytes()).hexdigest() == pkg["summary"]["sha256"]
    assert v["files"] == len(m["files"]) and v["manifest"] == m


def test_same_inputs_give_a_byte_identical_package(pkg, tmp_path):
    again = tmp_path / "again.tar.gz"
    r = cli("package", "create", pkg["out"], "--name", "kws", "--version", "1.2.0", "--key", pkg["key"], "-o", again)
    assert r.returncode == 0, r.stderr
    assert again.read_bytes() == pkg["path"].read_bytes()
    # ECDSA P-256 packages are reproducible too (RFC 6979 nonces)
    assert cli("keygen", "-o", tmp_path / "p256", "--algorithm", "ecdsa-p256").returncode == 0
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for p in (a, b):
        r = cli("package", pkg["out"], "--name", "kws", "--version", "1.2.0", "--key", tmp_path / "p256/signing.pem", "-o", p)
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    assert json.loads(members(a)[0]["manifest.sig"])["algorithm"] == "ecdsa-p256"
    assert cli("package", "verify", a, "--pubkey", tmp_path / "p256/signing.pub").returncode == 0
    one_line_error(cli("package", "verify", a, "--pubkey", pkg["pub"]), "not by the trusted key")


def test_the_packaged_library_computes_the_integer_reference(pkg, tmp_path):
    """The .so a device agent loads gives, bit for bit, what `edgec run --on host --raw` gives."""
    files, _ = members(pkg["path"])
    m = json.loads(files["manifest.json"])
    so = tmp_path / "libmodel.so"
    so.write_bytes(files[m["library"]])
    lib = ctypes.CDLL(str(so))
    run = getattr(lib, m["entry"])
    run.argtypes, run.restype = [ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int
    from edgec.verify import Built, run as host_run
    b = Built(str(pkg["out"]))
    xs = b.samples(str(pkg["inputs"]))[:40]
    np.save(tmp_path / "x.npy", xs)
    want, _ = host_run(str(pkg["out"]), "host", str(tmp_path / "x.npy"), raw=True)
    q = b.quantize_input(xs).astype(np.int8)
    got = np.zeros((len(q), m["outputs"][0]["bytes"]), np.int8)
    for i in range(len(q)):
        x = np.ascontiguousarray(q[i])
        assert run(x.ctypes.data, got[i].ctypes.data) == 0
    assert np.array_equal(got, want.reshape(len(q), -1))


@pytest.mark.parametrize("member", ["manifest.json", "manifest.sig", "report.json", "edgec_model.npz",
                                    "lib/libmodel.so", "src/model.c", "src/weights.c", "src/model.h"])
def test_one_altered_byte_in_any_file_is_refused(pkg, tmp_path, member):
    files, _ = members(pkg["path"])
    data = bytearray(files[member])
    i = len(data) // 2
    data[i] = data[i] ^ 0x01 if member != "manifest.sig" else ord("A" if data[i] != ord("A") else "B")
    files[member] = bytes(data)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(tar_gz(files))
    line = one_line_error(cli("package", "verify", bad, "--pubkey", pkg["pub"]))
    if member.startswith("manifest"):
        assert "signature" in line
    else:
        assert member in line and "sha256" in line


def test_missing_extra_or_unsigned_files_are_refused(pkg, tmp_path):
    files, _ = members(pkg["path"])
    cases = {"missing": ({k: v for k, v in files.items() if k != "src/weights.c"}, ["missing", "src/weights.c"]),
             "extra": ({**files, "src/backdoor.c": b"int x;\n"}, ["not in the manifest", "src/backdoor.c"]),
             "unsigned": ({k: v for k, v in files.items() if k != "manifest.sig"}, ["manifest.sig is missing"])}
    for name, (content, words) in cases.items():
        p = tmp_path / f"{name}.tar.gz"
        p.write_bytes(tar_gz(content))
        one_line_error(cli("package", "verify", p, "--pubkey", pkg["pub"]), *words)
    raw = bytearray(pkg["path"].read_bytes())            # a flipped byte in the compressed stream itself
    raw[len(raw) // 2] ^= 0xFF
    (tmp_path / "corrupt.tar.gz").write_bytes(bytes(raw))
    one_line_error(cli("package", "verify", tmp_path / "corrupt.tar.gz", "--pubkey", pkg["pub"]))
    link = io.BytesIO()                                   # a symlink entry is never a package file
    with tarfile.open(fileobj=link, mode="w:gz") as tar:
        info = tarfile.TarInfo("lib/libmodel.so")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    (tmp_path / "link.tar.gz").write_bytes(link.getvalue())
    one_line_error(cli("package", "verify", tmp_path / "link.tar.gz", "--pubkey", pkg["pub"]), "not a regular file")


def test_bad_package_input_is_one_line(pkg, tmp_path):
    key = pkg["key"]
    one_line_error(edgec("package", tmp_path, "--name", "kws", "--version", "1", "--key", key), "not an edgec build directory")
    one_line_error(edgec("package", pkg["out"], "--name", "kws_v1", "--version", "1", "--key", key), "model name")
    one_line_error(edgec("package", pkg["out"], "--name", "kws", "--version", "1/2", "--key", key), "version")
    one_line_error(edgec("package", pkg["out"], "--name", "kws", "--version", "1", "--key", key, "--device-target", "win-arm"),
                   "unknown device target")
    one_line_error(edgec("package", pkg["out"], "--name", "kws", "--version", "1", "--key", pkg["pub"]), "private key")
    one_line_error(edgec("package", pkg["out"], "--name", "kws", "--version", "1", "--key", tmp_path / "none.pem"), "cannot read key")
    one_line_error(edgec("package", "verify", tmp_path / "none.tar.gz", "--pubkey", pkg["pub"]), "cannot read package")
    assert not list(tmp_path.glob("*.tar.gz"))
