"""Package signing keys and detached signatures.

A package is trusted through one file, `manifest.json`, whose bytes are canonical JSON (sorted keys,
no whitespace) holding the SHA-256 of every other file.  `manifest.sig` is a small JSON document:
algorithm, key id (SHA-256 of the raw public key, 16 hex digits) and the base64 signature over
exactly those bytes.  Ed25519 is the default (small, deterministic signatures); ECDSA P-256 with
SHA-256 (RFC 6979 deterministic nonces) is accepted too because that is what AWS IoT OTA and Mender
deployments already hold.

A signature has one accepted byte form, so that nobody without the key can make a second valid
package from a signed one: the signature document is canonical JSON with exactly its three keys,
the base64 is canonical, an ECDSA signature is strict DER with the low s (BIP 62 / libsecp256k1:
(r, n - s) verifies too, and is refused), and Ed25519 rejects a non-reduced S (OpenSSL).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from ..compiler.errors import EdgecError

ALGORITHMS = ("ed25519", "ecdsa-p256")
KEY_FILES = ("signing.pem", "signing.pub")
#: Order of the P-256 group: an ECDSA signature's s must be at most half of it (low-s form).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIG_KEYS = ("algorithm", "key_id", "signature")


class SignatureError(EdgecError):
    """A package, manifest or key does not check out; the message says which and why."""


class MalformedSignature(SignatureError):
    """manifest.sig is not a signature document at all (wrong JSON types, extra keys): bad input,
    rather than a signature that fails to check."""


def canonical_json(obj) -> bytes:
    """The one byte form of a JSON value that gets signed: same value -> same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _raw_public(pub) -> bytes:
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def key_id(pub) -> str:
    """Short, stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(pub)).hexdigest()[:16]


def algorithm_of(key) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and key.curve.name == "secp256r1":
        return "ecdsa-p256"
    raise SignatureError(f"unsupported key type {type(key).__name__}", hint="use an Ed25519 or ECDSA P-256 key (`edgec keygen`)")


def generate(out_dir: str, algorithm: str = "ed25519") -> dict:
    """Write signing.pem (private, mode 0600) and signing.pub into out_dir; refuse to overwrite a key."""
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unknown algorithm '{algorithm}'", hint=f"choose one of: {', '.join(ALGORITHMS)}")
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = d / KEY_FILES[0], d / KEY_FILES[1]
    for p in (priv_path, pub_path):
        if p.exists():
            raise SignatureError("a key already exists here; refusing to overwrite it", where=str(p),
                                 hint="choose another directory or move the old key away")
    key = ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)   # never world-readable, not even briefly
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub = key.public_key()
    pub_path.write_bytes(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"private_key": str(priv_path), "public_key": str(pub_path), "key_id": key_id(pub), "algorithm": algorithm}


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SignatureError(f"cannot read key: {e.strerror}", where=str(path)) from None


def load_private(path: str):
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"not an unencrypted PEM private key ({e})", where=str(path),
                             hint="make one with `edgec keygen -o DIR`") from None
    algorithm_of(key)
    return key


def load_public(path: str):
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:                                    # a private key also names its public half
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise SignatureError("not a PEM public key", where=str(path), hint="pass the signing.pub `edgec keygen` wrote") from None
    algorithm_of(key)
    return key


def public_pem(public_key) -> bytes:
    """The SubjectPublicKeyInfo PEM of a key: one byte form however the key file was written."""
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(private_key, data: bytes) -> dict:
    """The manifest.sig document for `data`."""
    alg = algorithm_of(private_key)
    # RFC 6979 deterministic ECDSA: the same manifest and key give the same signature, so packages are reproducible
    if alg == "ed25519":
        sig = private_key.sign(data)
    else:
        sig = low_s(private_key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return {"algorithm": alg, "key_id": key_id(private_key.public_key()), "signature": base64.b64encode(sig).decode()}


def low_s(der: bytes) -> bytes:
    """The low-s form of a DER ECDSA P-256 signature: (r, s) with s <= n/2, else (r, n - s)."""
    r, s = decode_dss_signature(der)
    return encode_dss_signature(r, P256_N - s if s > P256_N // 2 else s)


def parse(sig_bytes: bytes) -> dict:
    """The signature document in manifest.sig, only in its one canonical byte form."""
    try:
        doc = json.loads(sig_bytes)
    except (ValueError, UnicodeDecodeError):
        raise MalformedSignature("manifest.sig is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != set(SIG_KEYS):
        raise MalformedSignature(f"manifest.sig is not a signature document (exactly {', '.join(SIG_KEYS)})")
    for k in SIG_KEYS:
        if not isinstance(doc[k], str):
            raise MalformedSignature(f"manifest.sig's {k} is a {type(doc[k]).__name__}, not a string")
    if canonical_json(doc) != sig_bytes:
        raise SignatureError("manifest.sig is not in canonical form (its bytes are not the signed document's one form)")
    return doc


def check(public_key, data: bytes, sig_doc) -> None:
    """Raise SignatureError unless sig_doc is a valid signature of `data` by public_key, in its one
    accepted form (canonical base64; ECDSA: strict DER, low s)."""
    if not isinstance(sig_doc, dict) or not set(SIG_KEYS) <= set(sig_doc) or not all(isinstance(sig_doc[k], str) for k in SIG_KEYS):
        raise MalformedSignature("manifest.sig is not a signature document (algorithm, key_id, signature: strings)")
    want = key_id(public_key)
    if sig_doc["key_id"] != want:
        raise SignatureError(f"signed by key {sig_doc['key_id']}, not by the trusted key {want}")
    if sig_doc["algorithm"] != algorithm_of(public_key):
        raise SignatureError(f"signature algorithm {sig_doc['algorithm']} does not match the {algorithm_of(public_key)} key")
    try:
        raw = base64.b64decode(sig_doc["signature"], validate=True)
    except ValueError:
        raise SignatureError("the signature is not base64") from None
    if base64.b64encode(raw).decode() != sig_doc["signature"]:
        raise SignatureError("the signature's base64 is not canonical (a second spelling of the same bytes)")
    try:
        if sig_doc["algorithm"] == "ed25519":
            public_key.verify(raw, data)
        else:
            r, s = decode_dss_signature(raw)
            if encode_dss_signature(r, s) != raw:
                raise SignatureError("the ECDSA signature is not strict DER")
            if not 0 < s <= P256_N // 2:
                raise SignatureError("the ECDSA signature has a high s (the malleable form (r, n - s) of a signature): refused")
            public_key.verify(raw, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        raise SignatureError("the signature does not match manifest.json (the manifest was altered or signed by another key)") from None
