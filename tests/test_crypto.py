"""runtime_c/edgec_crypto.c (libsodium's SHA-256 and Ed25519 verification, fetched by
verification/crypto_source.py) against Python's hashlib and `cryptography` on random keys and messages:
on the host and on the emulated Cortex-M4."""
import hashlib
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import require
from edgec.verification import crypto_source
from edgec.verification.devicebuild import build_program, code_bytes, run_program
from edgec.compiler.errors import ToolchainError
from edgec.compiler.targets import get_target

KAT = Path(__file__).parent / "c" / "crypto_kat.c"
#: Order of the Ed25519 group: S + L is the same scalar, in the non-reduced form RFC 8032 refuses.
L = 2 ** 252 + 27742317777372353535851937790883648493


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cases(seed):
    """(input bytes, expected output bytes, description) for every case kind of the driver."""
    rng = np.random.default_rng(seed)
    ins, outs, what = [], [], []

    def add(data, want, label):
        ins.append(data)
        outs.append(want)
        what.append(label)

    for n in (0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 4096):     # padding edges of the 64-byte block
        m = rng.bytes(n)
        add(struct.pack("<BI", 1, n) + m, hashlib.sha256(m).digest(), f"sha256 {n}")
        chunk = int(rng.integers(1, 130))
        add(struct.pack("<BII", 2, n, chunk) + m, hashlib.sha256(m).digest(), f"sha256 {n} in chunks of {chunk}")
    for i in range(12):
        key, other = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
        m = rng.bytes(int(rng.integers(0, 600)))
        sig = key.sign(m)
        pk = raw(key.public_key())
        verify = lambda s, k, msg: struct.pack("<BI", 3, len(msg)) + s + k + msg
        add(verify(sig, pk, m), b"\x01", f"valid {i}")
        bit = int(rng.integers(0, 512))
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 1 << (bit % 8)
        add(verify(bytes(flipped), pk, m), b"\x00", f"signature bit {bit} flipped")
        if m:
            bad = bytearray(m)
            bad[int(rng.integers(0, len(m)))] ^= 0x10
            add(verify(sig, pk, bytes(bad)), b"\x00", "message altered")
        add(verify(sig, raw(other.public_key()), m), b"\x00", "another key")
        s = int.from_bytes(sig[32:], "little")
        add(verify(sig[:32] + (s + L).to_bytes(32, "little"), pk, m), b"\x00", "non-canonical S (S + L)")
    return ins, outs, what


def check_driver(target_name, tmp_path, seed):
    target = get_target(target_name)
    exe, objs = build_program(target, [KAT], tmp_path / "build", crypto=True)
    ins, outs, what = cases(seed)
    run = tmp_path / "run"
    run.mkdir()
    stream = b"".join(ins)
    if target.emulator is None:
        r = run_program(target, exe, run, stdin=stream)
        got = r.stdout
    else:
        (run / "in.bin").write_bytes(stream)
        r = run_program(target, exe, run)
        got = (run / "out.bin").read_bytes()
    assert r.returncode == 0, r.stderr
    at = 0
    for want, label in zip(outs, what):
        assert got[at:at + len(want)] == want, label
        at += len(want)
    assert at == len(got)
    return target, exe, objs


def test_crypto_on_the_host_equals_hashlib_and_cryptography(tmp_path):
    require("cc")
    check_driver("host", tmp_path, 1)


def test_crypto_on_cortex_m4_equals_hashlib_and_cryptography(tmp_path):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    target, exe, objs = check_driver("cortex-m4", tmp_path, 2)
    sizes = code_bytes(target, exe, objs["crypto"])
    print(f"\ncortex-m4 SHA-256 + Ed25519 verify: {sizes['text']} B code, {sizes['rodata']} B constants")
    assert sizes["text"] > 0
    nm = __import__("subprocess").run([target.nm, "-u", *map(str, objs["crypto"])], capture_output=True, text=True).stdout
    assert "__aeabi_f" not in nm and "__aeabi_d" not in nm           # integer only, like the rest of runtime_c


def test_the_sdist_is_refused_unless_it_has_the_pinned_hash(tmp_path, monkeypatch):
    """A tarball that is not the pinned release (here: a real tar.gz with other bytes) is never
    extracted, and the cache keeps nothing of it."""
    fake = tmp_path / crypto_source.SDIST
    with tarfile.open(fake, "w:gz") as tar:
        tar.add(KAT, arcname=f"pynacl-{crypto_source.PYNACL_VERSION}/src/libsodium/LICENSE")
    monkeypatch.setenv("EDGEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEC_PYNACL_SDIST", str(fake))
    with pytest.raises(ToolchainError, match="not the pinned"):
        crypto_source.fetch()
    assert not any(p.name.startswith("libsodium-") for p in (tmp_path / "cache").iterdir())
