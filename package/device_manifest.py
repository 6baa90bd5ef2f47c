"""The signed manifest a microcontroller checks before it stages a model image into a slot
(runtime_c/edgec_slots.c).

A device has no JSON parser to spare, so the manifest is binary, with one byte form, little-endian:

    offset  size  field
         0     4  magic "EDGM"
         4     2  format (1)
         6     2  flags: bit 0 = downgrade allowed (all other bits 0)
         8     4  security counter: the device refuses a manifest below its own counter unless
                  downgrade is allowed; confirming an update raises the device's to it
        12     4  payload length (bytes of the model image)
        16    32  payload sha256
        48    64  model name, ASCII (fleet.package's name rules), NUL-padded
       112    32  model version, ASCII, NUL-padded
       144    64  Ed25519 signature of bytes 0..143 by the fleet's signing key (package/signing.py)

The magic separates these signed bytes from a package's manifest.json (which starts with "{"), so a
signature of one is never a signature of the other.  Only Ed25519 keys sign device manifests: the
device's verifier is libsodium's Ed25519 (runtime_c/edgec_crypto.c).
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..compiler.errors import EdgecError
from .names import check_name_version
from .signing import SignatureError, algorithm_of

#: files of an MCU package (package/archive.py): the model image and its signed device manifest
IMAGE_FILE, DEVICE_MANIFEST_FILE = "device/model.edgecimg", "device/model.edgm"
MAGIC = b"EDGM"
FORMAT = 1
FLAG_DOWNGRADE = 1
MANIFEST_BYTES = 144
SIGNED_BYTES = MANIFEST_BYTES + 64
_LAYOUT = struct.Struct("<4sHHII32s64s32s")
assert _LAYOUT.size == MANIFEST_BYTES


def _text(value: str, size: int, what: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) > size:
        raise EdgecError(f"the {what} '{value}' is longer than the device manifest's {size} bytes")
    return raw.ljust(size, b"\0")


def make(private_key, image: bytes, name: str, version: str, security_counter: int,
         allow_downgrade: bool = False) -> bytes:
    """The signed device manifest (SIGNED_BYTES) binding `image`."""
    if algorithm_of(private_key) != "ed25519":
        raise SignatureError("device manifests are signed with Ed25519 only (the device verifies with libsodium's Ed25519)",
                             hint="sign with an Ed25519 key (`edgec keygen`, the default)")
    check_name_version(name, version)
    if not 0 <= security_counter < 2 ** 32:
        raise EdgecError(f"security counter {security_counter} is not a 32-bit unsigned number")
    if len(image) >= 2 ** 32:
        raise EdgecError("the image is larger than 4 GiB")
    body = _LAYOUT.pack(MAGIC, FORMAT, FLAG_DOWNGRADE if allow_downgrade else 0, security_counter, len(image),
                        hashlib.sha256(image).digest(), _text(name, 64, "model name"), _text(version, 32, "version"))
    return body + private_key.sign(body)


def parse(data: bytes, public_key, image: bytes | None = None) -> dict:
    """The manifest's fields, after the checks the device makes (form, signature, and the image's
    length and hash when given); SignatureError says which failed."""
    if len(data) != SIGNED_BYTES:
        raise SignatureError(f"a device manifest has {SIGNED_BYTES} bytes, not {len(data)}")
    magic, fmt, flags, counter, length, digest, name, version = _LAYOUT.unpack(data[:MANIFEST_BYTES])
    fields = {}
    for key, raw in (("name", name), ("version", version)):
        text = raw.rstrip(b"\0")
        if not text or b"\0" in text or any(c < 0x21 or c > 0x7E for c in text):
            raise SignatureError(f"the device manifest's {key} is not NUL-padded printable ASCII")
        fields[key] = text.decode()
    if magic != MAGIC or fmt != FORMAT or flags & ~FLAG_DOWNGRADE:
        raise SignatureError("not a device manifest of format 1 (magic, format or flags)")
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise SignatureError("device manifests are checked with an Ed25519 key")
    try:
        public_key.verify(data[MANIFEST_BYTES:], data[:MANIFEST_BYTES])
    except InvalidSignature:
        raise SignatureError("the device manifest's signature does not check (altered, or signed by another key)") from None
    if image is not None and (len(image) != length or hashlib.sha256(image).digest() != digest):
        raise SignatureError("the image is not the one the device manifest binds (length or sha256)")
    return {**fields, "security_counter": counter, "length": length, "sha256": digest.hex(),
            "allow_downgrade": bool(flags & FLAG_DOWNGRADE)}


def mcu_files(out_dir: Path, report: dict, key, name: str, version: str, counter, allow_downgrade: bool) -> dict:
    """A microcontroller's payload: the build's model image and the device manifest signed over it."""
    if counter is None:
        raise EdgecError("a microcontroller package needs --security-counter N",
                         hint="the device refuses images whose counter is below its own; raise it when an update must never be undone")
    img_path = out_dir / "model.edgecimg"
    if not img_path.is_file():
        why = (report.get("image") or {}).get("refused")
        raise EdgecError("the build has no model image" + (f" ({why})" if why else ""), where=str(out_dir),
                         hint="run `edgec image OUT/` or rebuild with this edgec version")
    image = img_path.read_bytes()
    return {IMAGE_FILE: image,
            DEVICE_MANIFEST_FILE: make(key, image, name, version, counter, allow_downgrade)}
