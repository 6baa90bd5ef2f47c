"""A device's flash as runtime_c/edgec_slots.c lays it out, read from Python: the state record in
force and the image in the active slot, checked as the device checks them.  For an emulated
device's flash image file (DEV.flash) and for tests, which read the flash back independently of
the C.

Layout (edgec_slots.h): two state sectors at 0 and SECTOR, then slot 0 at 2*SECTOR and slot 1 after
it, SLOT bytes each.  A state record is 48 bytes at the start of its sector: "EDGS", seq u32,
active u8, previous u8, trial u8, 0, security counter u32 (little-endian), then the sha256 of those
16 bytes; the valid record with the higher seq is in force.  A slot holds its signed manifest
(package/device_manifest.py) at offset 0 and the payload at offset 256.
"""
from __future__ import annotations

import hashlib
import struct

from ..package import device_manifest

STATE_MAGIC = b"EDGS"
STATE_BYTES = 48
HEADER_BYTES = 256
NONE = 0xFF


def state(flash: bytes, sector: int) -> dict | None:
    """The state record in force, or None on a device that never activated an image."""
    found = []
    for copy in (0, 1):
        rec = flash[copy * sector:copy * sector + STATE_BYTES]
        if len(rec) == STATE_BYTES and rec[:4] == STATE_MAGIC and hashlib.sha256(rec[:16]).digest() == rec[16:]:
            seq, active, previous, trial, _, counter = struct.unpack("<IBBBBI", rec[4:16])
            found.append({"seq": seq, "active": active, "previous": previous, "trial": trial, "counter": counter})
    return max(found, key=lambda s: s["seq"]) if found else None


def slot_image(flash: bytes, sector: int, slot_size: int, slot: int, public_key) -> tuple:
    """(manifest fields, payload) of a slot; SignatureError unless its manifest is signed by
    public_key and binds exactly the payload the slot holds."""
    base = 2 * sector + slot * slot_size
    header = flash[base:base + device_manifest.SIGNED_BYTES]
    fields = device_manifest.parse(header, public_key)
    payload = flash[base + HEADER_BYTES:base + HEADER_BYTES + fields["length"]]
    device_manifest.parse(header, public_key, payload)
    return fields, payload


def serving(flash: bytes, sector: int, slot_size: int, public_key) -> tuple:
    """(state, manifest fields, payload) of the active slot; (state, None, None) when none is active.
    The active slot must hold a whole signed image: SignatureError otherwise."""
    st = state(flash, sector)
    if st is None or st["active"] == NONE:
        return st, None, None
    fields, payload = slot_image(flash, sector, slot_size, st["active"], public_key)
    return st, fields, payload
