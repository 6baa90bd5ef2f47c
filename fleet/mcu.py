"""Microcontroller devices (issue 20, part 4): the example firmware built for an emulated core and the
UART link to it.  The host bridge that brings it the fleet's rollouts is agent/mcu_bridge.py.

The firmware (verification/harness/mcu_device.c) holds the slot library, the image interpreter with the
full kernel set, libsodium's verify path and the fleet's Ed25519 public key, compiled in: the bridge
carries bytes and reports, it cannot make the device accept an image the fleet did not sign.  The
flash is a host file (DEV.flash) the firmware reads and programs through semihosting, so killing
QEMU at any moment leaves it as a power cut leaves a NOR flash.

The link is the board's UART (QEMU -serial stdio, the bridge holds the pipes).  Frames, both ways:

    'E' 'F'  type u8  length u16 LE  payload  crc32 LE (zlib.crc32 over type, length, payload)

one command frame, one answer (type 'r': int32 LE code, then data); a frame that fails its CRC is
answered MCU_E_FRAME and sent again.  Commands: B boot (flash path), S status, M signed manifest,
W image chunk, F finish (hash, signature, self-test), A activate (then the image in service is
loaded, checked and self-tested; a failure reverts), C confirm, R revert, I inference.

The bridge (`edgec device run --bundle devices/DEV --target cortex-m4 --flash-image DEV.flash`) is
the Linux agent's rollout loop (agent/rollout.py) with another `execute`: it takes the credential
provider's credentials and the IoT Jobs device API from fleet/device.py, downloads and verifies the
package (signature, every file), and passes the package's signed device manifest and image to the
firmware in chunks; the job ends SUCCEEDED, or FAILED with the device's reason.  Its heartbeat puts
the model and version the device serves into the same shadow the Linux agent reports to, so
`edgec fleet status` and the dashboard show both kinds of device alike.
"""
from __future__ import annotations

import hashlib
import os
import select
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

from ..compiler.errors import EdgecError
from ..package.device_manifest import IMAGE_FILE

FIRMWARE = "mcu_device.c"
#: the firmware's flash geometry (mcu_device.c's defaults): sector, slot, program unit
SECTOR, SLOT, UNIT = 4096, 128 * 1024, 8
FLASH_BYTES = 2 * SECTOR + 2 * SLOT
CHUNK = 1024
#: the firmware's largest frame payload (MCU_MAX_FRAME): chunks, manifests, one inference's input
MAX_FRAME = 4096
E_FRAME, E_COMMAND, E_SERVE, E_NO_IMAGE, E_INPUT = -100, -101, -102, -103, -104

SLOT_REASONS = {
    -1: "flash error (the driver failed or read back other bytes than written)",
    -2: "not a device manifest of format 1 (magic, sizes, padding or flags)",
    -3: "the device manifest's signature does not verify with the device's fleet key",
    -4: "refused by the security counter: the image's counter is below the device's and no signed downgrade allows it",
    -5: "the image is not the one the signed device manifest binds (length or sha256)",
    -6: "the image failed its self-test on the device",
    -7: "update step out of order",
    -8: "the image is larger than a slot, or a chunk is not whole flash program units",
    E_FRAME: "the UART frame did not check (CRC)", E_COMMAND: "the device does not know that command",
    E_SERVE: "the activated image did not pass its check and self-test in service; reverted",
    E_NO_IMAGE: "the device serves no image", E_INPUT: "the input has the wrong size",
}
IMAGE_REASONS = {1: "truncated", 2: "bad magic", 3: "unknown format version", 4: "other kernel ABI",
                 5: "needs a kernel this firmware lacks", 6: "an offset or extent out of bounds", 7: "bad schedule",
                 8: "arena too small", 9: "sha256 of the body differs from the header's", 10: "golden outputs differ",
                 11: "misaligned"}


class DeviceRefused(EdgecError):
    """The firmware refused an update step; the message is the device's reason."""


class DeviceStopped(EdgecError):
    """The emulated device stopped (killed, as by a power cut) or never answered."""


def reason(code: int, image_code: int = 0) -> str:
    text = SLOT_REASONS.get(code, f"error {code}")
    if image_code and image_code in IMAGE_REASONS:
        text += f" (image check: {IMAGE_REASONS[image_code]}, code {image_code})"
    return f"device refused the image: {text} [code {code}]"


# ---- the firmware ---------------------------------------------------------------------------------

def public_key_raw(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise EdgecError("an MCU device verifies Ed25519 signatures only; the fleet key is not Ed25519",
                         hint="make the fleet key with `edgec keygen` (Ed25519, the default)")
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def firmware_sources() -> list:
    from ..verification.devicebuild import runtime_file
    from ..verification.image_exec import runtime_files
    from ..verification.toolchain import harness_file
    runtime = [runtime_file(f) for f in runtime_files() if f.endswith(".c")]
    return runtime + [runtime_file("edgec_slots.c"), harness_file("flash_file.c"), harness_file(FIRMWARE)]


def firmware(target_name: str, key_raw: bytes, cache: Path | None = None) -> Path:
    """The firmware ELF for a target with the fleet key compiled in, built once per (sources, key,
    target) into the edgec cache."""
    from ..verification.devicebuild import build_program
    from ..compiler.targets import get_target
    from ..verification.toolchain import harness_file
    target = get_target(target_name)
    sources = firmware_sources()
    h = hashlib.sha256(target_name.encode() + key_raw)
    for s in sources:
        h.update(Path(s).read_bytes())
    cache = Path(cache or os.environ.get("EDGEC_CACHE", Path.home() / ".cache" / "edgec")) / "mcu-firmware" / h.hexdigest()[:16]
    elf = cache / "model.elf"
    if elf.is_file():
        return elf
    work = cache.with_name(cache.name + f".tmp{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    key_c = work / "device_key.c"
    key_c.write_text("/* The fleet's Ed25519 public key (fleet/mcu.py). */\n#include <stdint.h>\n"
                     f"const uint8_t edgec_device_key[32] = {{{', '.join(str(b) for b in key_raw)}}};\n")
    exe, _ = build_program(target, [*sources, key_c], work, crypto=True, include=[harness_file("flash_file.h").parent])
    try:
        os.replace(work, cache)
    except OSError:                                  # another process built it first
        pass
    return elf if elf.is_file() else exe


# ---- the UART link --------------------------------------------------------------------------------

def frame(kind: bytes, payload: bytes = b"") -> bytes:
    body = kind + struct.pack("<H", len(payload)) + payload
    return b"EF" + body + struct.pack("<I", zlib.crc32(body))


class Link:
    """The firmware running (QEMU, or natively for the host target) with the UART on our pipes."""

    def __init__(self, target_name: str, elf: Path, flash_path: str, log=None, extra=()):
        from ..compiler.targets import get_target
        target = get_target(target_name)
        flash = Path(flash_path).resolve()
        if target.emulator is None:
            argv = [str(elf)]
        else:
            argv = list(target.emulator)
            i = argv.index("-serial")
            argv[i + 1] = "stdio"
            argv += [*extra, "-kernel", str(elf)]
        self.log = log
        try:
            self.proc = subprocess.Popen(argv, cwd=flash.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log or subprocess.DEVNULL)
        except OSError as e:
            raise EdgecError(f"cannot start the device ({argv[0]}): {e.strerror}",
                             hint=f"install: sudo apt-get install {' '.join(target.apt)}") from None
        self.buf = b""
        self.lock = threading.Lock()
        self.flash_name = flash.name
        self.status = self.parse_status(self.call(b"B", flash.name.encode(), timeout=120))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not r:
                raise DeviceStopped("the device did not answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise DeviceStopped(f"the device stopped (exit {self.proc.wait()})")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def call(self, kind: bytes, payload: bytes = b"", timeout: float = 60) -> tuple[int, bytes]:
        """(code, data) of one command; a frame the device could not read is sent again (3 times)."""
        if len(payload) > MAX_FRAME:
            raise EdgecError(f"{len(payload):,} bytes do not fit one UART frame of the device ({MAX_FRAME:,} at most)")
        with self.lock:
            for _ in range(3):
                try:
                    self.proc.stdin.write(frame(kind, payload))
                    self.proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    raise DeviceStopped(f"the device stopped (exit {self.proc.wait()})") from None
                deadline = time.monotonic() + timeout
                while True:                                      # sync on "EF"
                    if self._read(1, deadline) == b"E" and self._read(1, deadline) == b"F":
                        break
                head = self._read(3, deadline)
                n = struct.unpack("<H", head[1:])[0]
                rest = self._read(n + 4, deadline)
                if head[:1] != b"r" or n < 4 or zlib.crc32(head + rest[:n]) != struct.unpack("<I", rest[n:])[0]:
                    raise EdgecError("the device's answer did not check (CRC)")
                code = struct.unpack("<i", rest[:4])[0]
                if code != E_FRAME:
                    return code, rest[4:n]
            raise EdgecError("the device could not read our frames three times")

    @staticmethod
    def parse_status(answer) -> dict:
        code, data = answer
        if code < 0:
            raise EdgecError(f"the device could not boot: {SLOT_REASONS.get(code, code)}")
        words = data.decode(errors="replace").split()
        if words[1] == "none":
            return {"slot": None, "name": None, "version": None, "counter": int(words[2]), "trial": False, "image_code": None}
        return {"slot": int(words[1]), "name": words[2], "version": words[3], "counter": int(words[4]),
                "trial": words[5] == "trial", "image_code": int(words[6])}

    def refresh(self) -> dict:
        self.status = self.parse_status(self.call(b"S"))
        return self.status

    def step(self, kind: bytes, payload: bytes = b"") -> int:
        code, data = self.call(kind, payload)
        if code != 0:
            detail = struct.unpack("<i", data[:4])[0] if len(data) >= 4 else 0
            raise DeviceRefused(reason(code, detail))
        return struct.unpack("<i", data[:4])[0] if len(data) >= 4 else 0

    def install(self, signed_manifest: bytes, image: bytes, chunk: int = CHUNK, on_step=None) -> dict:
        """Stage, verify and self-test, activate (checked again in service), confirm: the image serves,
        or DeviceRefused with the device's reason and the previous image still serving."""
        if chunk % UNIT:
            raise EdgecError(f"chunks must be whole {UNIT}-byte flash program units")
        say = on_step or (lambda what: None)
        self.step(b"M", signed_manifest)
        n = -(-len(image) // chunk)
        for i, at in enumerate(range(0, len(image), chunk)):
            say(f"staging chunk {i + 1}/{n}")
            self.step(b"W", image[at:at + chunk])
        say("verifying and self-testing")
        self.step(b"F")
        say("activating")
        self.step(b"A")
        if self.refresh()["trial"]:                     # (a first image has nothing to revert to: no trial)
            self.step(b"C")
        return self.refresh()

    def infer(self, data: bytes) -> bytes:
        code, out = self.call(b"I", data)
        if code != 0:
            raise DeviceRefused(f"inference failed: {SLOT_REASONS.get(code, f'image error {code}')}")
        return out

    def close(self) -> None:
        """Stops the device (the emulator has no end of input: it is terminated; the flash is safe at
        any point, as after a power cut)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


# ---- `edgec run PKG.tar.gz X.npy --on TARGET` ------------------------------------------------------

def package_built(path: str):
    """A package read back as a build (verify.Built) for `edgec run`: its report and graphs, and for
    a microcontroller package its model image, which `execute` runs on the target through the
    interpreter (image_exec.execute_image) instead of the generated C.  The package is read as a
    local file without checking its signature (`edgec package verify` does that)."""
    import tempfile
    import numpy as np
    from ..package import archive as package
    from ..compiler.serialize import ARTIFACT
    from ..verification.verify import Built

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise EdgecError(f"cannot read package: {e.strerror}", where=str(path)) from None
    members = package.read_members(data, str(path))
    tmp = tempfile.TemporaryDirectory(prefix="edgec-pkg-")
    for name, body in members.items():
        if name in ("report.json", ARTIFACT) or name.startswith("src/"):
            (Path(tmp.name) / Path(name).name).write_bytes(body)

    class PackageBuilt(Built):
        _tmp = tmp                                     # lives as long as the object

        def execute(self, target_name, q_in, sanitize=False, reset_each=False):
            if IMAGE_FILE not in members:
                return super().execute(target_name, q_in, sanitize, reset_each)
            from ..codegen.image import read_header
            from ..verification.image_exec import execute_image
            img = members[IMAGE_FILE]
            if reset_each and self.stateful:
                raise EdgecError("--reset-each is not available for a package's model image")
            h = read_header(img)
            q = np.ascontiguousarray(q_in, dtype=np.int8)
            if self.uint8_api("input"):
                q = q ^ np.int8(-128)
            raw, ex = execute_image(target_name, img, q.tobytes(), h["input_bytes"], h["output_bytes"], h["arena_bytes"])
            got = np.frombuffer(raw, np.int8)
            if self.uint8_api("output"):
                got = got ^ np.int8(-128)
            if got.size != len(q_in) * h["output_bytes"]:
                raise EdgecError(f"the image returned {got.size} output bytes for {len(q_in)} samples on {target_name}")
            return got.reshape((len(q_in),) + tuple(self.output_shape)), ex

    return PackageBuilt(tmp.name)


# ---- the bridge: IoT Jobs and the shadow for the emulated device ----------------------------------
