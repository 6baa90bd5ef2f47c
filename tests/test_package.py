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
from edgec.package import archive as package, signing
from edgec.package.archive import tar_gz

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
    from edgec.verification.verify import Built, run as host_run
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


# ---- hostile packages: bombs and unsigned bytes ----------------------------------------------------

def test_a_decompression_bomb_is_refused_in_little_memory(pkg, tmp_path):
    """A 2 MB tar.gz holding one 2 GiB member, alone, behind a validly signed head, named as the
    manifest, or appended after a good package: `edgec package verify` refuses each without
    inflating it (peak RSS of the verifying process, measured by its parent with getrusage)."""
    from bombs import GIB, gzip_bomb, peak_rss
    good = pkg["path"].read_bytes()
    files, _ = members(pkg["path"])
    head = package.head(files)
    assert good.startswith(head)
    lib_bomb = gzip_bomb("lib/libmodel.so", 2 * GIB)
    assert len(lib_bomb) < 2_500_000
    cases = {"bomb alone": lib_bomb, "behind the signed head": head + lib_bomb,
             "as the manifest": gzip_bomb("manifest.json", 2 * GIB),
             "after the signed files": head + gzip_bomb("edgec_model.npz", 2 * GIB),
             "appended to a good package": good + lib_bomb}
    code, base, _, err = peak_rss(*EDGEC, "package", "verify", pkg["path"], "--pubkey", pkg["pub"])
    assert code == 0, err
    for what, data in cases.items():
        bad = tmp_path / "bomb.tar.gz"
        bad.write_bytes(data)
        code, peak, secs, err = peak_rss(*EDGEC, "package", "verify", bad, "--pubkey", pkg["pub"])
        one_line_error(SimpleNamespace(returncode=code, stdout="", stderr=err))
        print(f"\n{what}: {len(data):,} bytes refused in {secs:.1f} s, peak RSS {peak} MiB (a good package: {base} MiB)")
        assert peak < base + 50 and secs < 20, (what, peak, base, secs)


def _resign(files, key, mutate_manifest=None):
    m = json.loads(files["manifest.json"])
    if mutate_manifest:
        mutate_manifest(m)
    files["manifest.json"] = signing.canonical_json(m)
    files["manifest.sig"] = signing.canonical_json(signing.sign(key, files["manifest.json"]))
    return files


def test_no_unsigned_byte_is_accepted(pkg, tmp_path):
    """Every byte of a package is fixed by its signed manifest and signature: appended bytes, a
    second gzip member, the same files compressed another way, a re-encoded head, and other spellings
    of the same signature are all refused (each one verified as a valid package before)."""
    import base64
    import gzip
    import zlib
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
    good = pkg["path"].read_bytes()
    files, _ = members(pkg["path"])
    rest = {k: v for k, v in files.items() if k not in ("manifest.json", "manifest.sig")}

    def recompressed(level):
        raw = b"".join(package._tar_entry(p, rest[p]) for p in sorted(rest)) + bytes(1024)
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        return package.PAYLOAD_GZIP + c.compress(raw) + c.flush() + package._gzip_trailer(raw)

    def plain_head():                    # manifest and signature compressed normally, not stored
        raw = package._tar_entry("manifest.json", files["manifest.json"]) + package._tar_entry("manifest.sig", files["manifest.sig"])
        return gzip.compress(raw, mtime=0)

    sig = json.loads(files["manifest.sig"])
    b64 = sig["signature"]
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    assert b64.endswith("==")                            # 64 bytes: the last digit carries 2 bits and 4 unused ones
    other_b64 = b64[:-3] + digits[digits.index(b64[-3]) ^ 1] + b64[-2:]
    assert base64.b64decode(other_b64) == base64.b64decode(b64)
    cases = {
        "trailing garbage": good + b"appended",
        "trailing zero blocks": good + bytes(1024),
        "a second gzip member": good + gzip.compress(b"#!/bin/sh\necho pwned\n"),
        "payload compressed at level 6": package.head(files) + recompressed(6),
        "payload compressed at level 1": package.head(files) + recompressed(1),
        "head compressed": plain_head() + package.payload(files),
        "signature document with spaces": package.tar_gz({**files, "manifest.sig": json.dumps(sig).encode()}),
        "another base64 of the signature": package.tar_gz({**files, "manifest.sig": signing.canonical_json({**sig, "signature": other_b64})}),
    }
    # ECDSA: the package carries the low-s signature; (r, n - s) verifies too, and is refused
    assert cli("keygen", "-o", tmp_path / "p256", "--algorithm", "ecdsa-p256").returncode == 0
    ec_pkg = tmp_path / "ec.tar.gz"
    assert cli("package", pkg["out"], "--name", "kws", "--version", "1.2.0", "--key", tmp_path / "p256/signing.pem", "-o", ec_pkg).returncode == 0
    ec_files, _ = members(ec_pkg)
    ec_sig = json.loads(ec_files["manifest.sig"])
    r, s = decode_dss_signature(base64.b64decode(ec_sig["signature"]))
    assert s <= signing.P256_N // 2
    high = base64.b64encode(encode_dss_signature(r, signing.P256_N - s)).decode()
    pub = signing.load_public(str(tmp_path / "p256/signing.pub"))
    pub.verify(base64.b64decode(high), ec_files["manifest.json"], __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).ECDSA(
        __import__("cryptography.hazmat.primitives.hashes", fromlist=["hashes"]).SHA256()))     # a valid signature for OpenSSL
    cases["ECDSA (r, n - s)"] = package.tar_gz({**ec_files, "manifest.sig": signing.canonical_json({**ec_sig, "signature": high})})
    # Ed25519 with S + L (not reduced): OpenSSL refuses it, and so does the verifier
    raw = base64.b64decode(b64)
    L = 2 ** 252 + 27742317777372353535851937790883648493
    s_plus_l = raw[:32] + (int.from_bytes(raw[32:], "little") + L).to_bytes(32, "little")
    cases["Ed25519 (R, S + L)"] = package.tar_gz({**files, "manifest.sig": signing.canonical_json({**sig, "signature": base64.b64encode(s_plus_l).decode()})})
    refused = 0
    for what, data in cases.items():
        assert hashlib.sha256(data).hexdigest() != hashlib.sha256(good if "ECDSA" not in what else ec_pkg.read_bytes()).hexdigest()
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(data)
        key = tmp_path / "p256/signing.pub" if "ECDSA" in what else pkg["pub"]
        line = one_line_error(cli("package", "verify", bad, "--pubkey", key))
        print(f"\n{what}: {line}")
        refused += 1
    assert refused == len(cases) == 10
    assert cli("package", "verify", pkg["path"], "--pubkey", pkg["pub"]).returncode == 0
    assert cli("package", "verify", ec_pkg, "--pubkey", tmp_path / "p256/signing.pub").returncode == 0


def test_a_package_is_two_gzip_members_any_tar_reads(pkg, tmp_path):
    """The head (manifest and signature, stored) and the payload: plain gzip and tar read it as one
    archive, and the manifest signs the payload's sha256 and length."""
    data = pkg["path"].read_bytes()
    files, infos = members(pkg["path"])
    head = package.head(files)
    m = json.loads(files["manifest.json"])
    assert m["format"] == "edgec-package/2"
    assert m["payload"] == {"sha256": hashlib.sha256(data[len(head):]).hexdigest(), "size": len(data) - len(head)}
    r = subprocess.run(["tar", "-tzf", pkg["path"]], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == [i.name for i in infos]
    old = dict(files)                                     # an edgec-package/1 manifest: told to package again
    key = signing.load_private(str(pkg["key"]))
    _resign(old, key, lambda man: (man.__setitem__("format", "edgec-package/1"), man.pop("payload")))
    (tmp_path / "v1.tar.gz").write_bytes(package.tar_gz(old))
    one_line_error(cli("package", "verify", tmp_path / "v1.tar.gz", "--pubkey", pkg["pub"]), "edgec-package/1", "package it again")
