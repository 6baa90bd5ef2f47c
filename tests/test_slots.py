"""runtime_c/edgec_slots.c: two model slots, signed manifests (package/device_manifest.py), self-test,
activate / confirm / revert, and power loss at every flash operation of an update.

The device is tests/c/slots_device.c over a file-backed NOR flash (verification/harness/flash_file.c),
built for the host and for the emulated Cortex-M4 (flash through semihosting).  After every power
cut the flash file is read back here, independently of the C: the state record's active slot must
hold, complete, an image the fleet key signed, and the rebooted device must serve it."""
import hashlib
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import require
from edgec.package.signing import SignatureError
from edgec.verification.devicebuild import build_program, code_bytes, command, runtime_file
from edgec.package import device_manifest
from edgec.fleet import device_slots
from edgec.compiler.targets import get_target
from edgec.verification.toolchain import harness_file, harness_tool, read_profile

C = Path(__file__).parent / "c"
HEADER = 256
CUT_EXIT = 99
E_SIGNATURE, E_COUNTER, E_HASH, E_SELFTEST = -3, -4, -5, -6


def payload(n, seed, selftest_passes=True):
    """A model-image stand-in whose last 32 bytes are the sha256 of the rest: the device's
    self-test recomputes it (a failing one carries another image's hash)."""
    body = np.random.default_rng(seed).bytes(n - 32)
    tail = hashlib.sha256(body if selftest_passes else body + b"x").digest()
    return body + tail


class Device:
    """One emulated or host device: its program, its flash file, its key; `run` boots it with a
    command script and returns (exit code, output lines)."""

    def __init__(self, target, exe, work, sector, slot_size, key, unit=1):
        self.target, self.exe, self.work, self.sector, self.slot = target, exe, Path(work), sector, slot_size
        self.unit = unit
        self.work.mkdir(parents=True, exist_ok=True)
        self.key = key
        (self.work / "key.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                           serialization.PublicFormat.Raw))

    def release(self, name, image, version, counter, key=None, downgrade=False, tamper=False):
        """Writes NAME.man / NAME.bin as the fleet would send them."""
        m = device_manifest.make(key or self.key, image, "kws", version, counter, allow_downgrade=downgrade)
        if tamper:
            image = bytearray(image)
            image[len(image) // 3] ^= 0x01
        (self.work / f"{name}.man").write_bytes(m)
        (self.work / f"{name}.bin").write_bytes(bytes(image))

    def script(self, *commands):
        return "\n".join([f"flash dev.flash {self.sector} {self.slot} {self.unit}", "key key.pub", *commands]) + "\n"

    def run(self, *commands, timeout=600, extra=()):
        (self.work / "cmd.txt").write_text(self.script(*commands))
        r = subprocess.run(command(self.target, self.exe) + list(extra), cwd=self.work, capture_output=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace").splitlines()

    def popen(self, *commands):
        (self.work / "cmd.txt").write_text(self.script(*commands))
        return subprocess.Popen(command(self.target, self.exe), cwd=self.work, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    @property
    def flash(self):
        return self.work / "dev.flash"

    def inspect(self):
        """The flash read back in Python (fleet/device_slots.py): (state, served image bytes or None).
        Raises unless the active slot, if any, holds a complete payload its signed manifest binds."""
        st, _, image = device_slots.serving(self.flash.read_bytes(), self.sector, self.slot, self.key.public_key())
        return st, image


def serving(lines):
    got = [l for l in lines if l.startswith("serving ")]
    assert got, lines
    return got[-1].split()[1:]


def ops(lines):
    return [int(l.split()[1]) for l in lines if l.startswith("ops ")]


def built(target_name, tmp_path_factory):
    target = get_target(target_name)
    exe, objs = build_program(target, [C / "slots_device.c", harness_file("flash_file.c"), runtime_file("edgec_slots.c")],
                              tmp_path_factory.mktemp(f"slots-{target_name}"), crypto=True,
                              include=[harness_file("flash_file.h").parent])   # its <string.h> declares libc's own three
    return target, exe, objs


@pytest.fixture(scope="module")
def host_device(tmp_path_factory):
    require("cc")
    return built("host", tmp_path_factory)


@pytest.fixture(scope="module")
def m4_device(tmp_path_factory):
    require("arm-none-eabi-gcc", "qemu-system-arm")
    return built("cortex-m4", tmp_path_factory)


def proof_scenarios(dev, size, extra=()):
    """The issue's Proof without the fleet: v1 serving, v2 update, tampered and other-key v3
    refused, a v4 that fails its self-test refused, v1 refused by the counter unless a signed
    downgrade allows it.  Returns the seconds the v2 update took (boot, stage, activate, confirm),
    run with the emulator arguments `extra`."""
    other = ed25519.Ed25519PrivateKey.generate()
    v1, v2, v3, v4 = (payload(size, s) for s in (1, 2, 3, 4))
    dev.release("v1", v1, "1.0.0", 1)
    dev.release("v2", v2, "2.0.0", 2)
    dev.release("v3t", v3, "3.0.0", 3, tamper=True)
    dev.release("v3k", v3, "3.0.0", 3, key=other)
    dev.release("v4", payload(size, 4, selftest_passes=False), "4.0.0", 4)
    dev.release("v1again", v1, "1.0.0", 1)
    dev.release("v1down", v1, "1.0.1", 1, downgrade=True)
    rc, out = dev.run("open", "stage v1.man v1.bin 1024", "activate", "open")
    assert rc == 0 and "stage ok" in out and serving(out) == ["0", "kws", "1.0.0", "1"], out
    assert dev.inspect()[1] == v1
    start = time.monotonic()
    rc, out = dev.run("open", "stage v2.man v2.bin 1024", "activate", "confirm", extra=extra)
    seconds = time.monotonic() - start
    assert rc == 0 and ["stage ok", "activate ok", "confirm ok"] == [l for l in out if l.endswith(" ok")], out
    rc, out = dev.run("open", "stage v3t.man v3t.bin 1024", "stage v3k.man v3k.bin 1024", "stage v4.man v4.bin 1024",
                      "stage v1again.man v1again.bin 1024", "activate", "open")
    assert rc == 0, out
    assert [l for l in out if l.startswith(("stage", "activate"))] == [
        f"stage error {E_HASH}", f"stage error {E_SIGNATURE}", f"stage error {E_SELFTEST}", f"stage error {E_COUNTER}",
        "activate error -7"], out
    assert serving(out) == ["1", "kws", "2.0.0", "2"]
    state, image = dev.inspect()
    assert image == v2 and state["trial"] == 0 and state["counter"] == 2
    rc, out = dev.run("open", "stage v1down.man v1down.bin 1024", "activate", "confirm", "open")
    assert rc == 0 and serving(out) == ["0", "kws", "1.0.1", "2"], out      # the counter never goes down
    assert dev.inspect()[1] == v1
    return seconds


@pytest.mark.parametrize("which", ["host", "cortex-m4"])
def test_proof_scenarios_on_the_device(which, request, tmp_path):
    target, exe, objs = request.getfixturevalue("host_device" if which == "host" else "m4_device")
    dev = Device(target, exe, tmp_path / "dev", 4096, 64 * 1024, ed25519.Ed25519PrivateKey.generate(), unit=8)
    prof = tmp_path / "profile.txt"
    extra = ["-plugin", f"{harness_tool('insncount.so')},out={prof}"] if target.emulator else []
    seconds = proof_scenarios(dev, 50 * 1024, extra)
    if target.emulator:
        sizes = code_bytes(target, exe, [o for o in objs["program"] if o.stem == "edgec_slots"])
        p = read_profile(target, exe, prof)
        top = ", ".join(f"{k} {v:,}" for k, v in list(p.per_function.items())[:4])
        print(f"\n{which}: 50 KB update (boot check, stage in 1 KB chunks, read-back hash, signature, self-test, "
              f"activate, confirm): {p.instructions:,} instructions, {seconds:.2f} s in QEMU (top: {top}); "
              f"edgec_slots {sizes['text']} B code")
        assert p.instructions > 0


def test_revert_on_restart_before_confirm_and_explicit_revert(host_device, tmp_path):
    target, exe, _ = host_device
    dev = Device(target, exe, tmp_path, 512, 4096, ed25519.Ed25519PrivateKey.generate())
    v1, v2 = payload(3000, 1), payload(2000, 2)
    dev.release("v1", v1, "1.0.0", 1)
    dev.release("v2", v2, "2.0.0", 2)
    rc, out = dev.run("open", "stage v1.man v1.bin 700", "activate", "stage v2.man v2.bin 700", "activate", "open")
    assert rc == 0 and serving(out) == ["0", "kws", "1.0.0", "1"], out             # restarted on trial: reverted
    rc, out = dev.run("open", "stage v2.man v2.bin 700", "activate", "stage v1.man v1.bin 700", "revert", "open")
    assert rc == 0 and out[:4] == ["serving 0 kws 1.0.0 1", "stage ok", "activate ok", "stage error -7"], out
    assert serving(out) == ["0", "kws", "1.0.0", "1"]
    assert dev.inspect()[1] == v1


def test_power_cut_at_every_flash_operation_of_updates(host_device, tmp_path):
    """From a blank flash: install v1; update to v2 but restart on trial (reverts); update to v2 and
    confirm; update to v3 (over v1's slot, the revert target until then) and confirm.  The power
    fails in turn during each flash operation of that sequence, three ways (part of it done, none,
    all), and the device restarts from the flash file.  Each command must be atomic: after the
    restart the device serves what it served after a restart just before that command or just
    after it, whole and signed (the flash read back in Python agrees), and an update to v9
    succeeds from there."""
    target, exe, _ = host_device
    dev = Device(target, exe, tmp_path / "dev", 512, 4096, ed25519.Ed25519PrivateKey.generate(), unit=16)
    images = {"1.0.0": payload(3000, 1), "2.0.0": payload(2500, 2), "3.0.0": payload(3800, 3), "9.0.0": payload(1000, 9)}
    for v, image in images.items():
        dev.release(f"v{v[0]}", image, v, int(v[0]))
    script = ["open", "stage v1.man v1.bin 320", "activate", "open", "stage v2.man v2.bin 320", "activate",
              "open", "stage v2.man v2.bin 320", "activate", "confirm", "open", "stage v3.man v3.bin 512", "activate",
              "confirm", "open"]

    def restart():
        rc, out = dev.run("open")
        assert rc == 0, out
        state, image = dev.inspect()
        got = serving(out)
        if image is None:
            assert got == ["none"], out
            return "none"
        assert image == images[got[2]] and state["active"] == int(got[0]) and state["trial"] == 0, out
        return got[2]

    done, after = [0], ["none"]                     # flash operations and the restart's image after each prefix
    for k in range(1, len(script) + 1):
        dev.flash.unlink(missing_ok=True)
        rc, out = dev.run(*script[:k])
        assert rc == 0, out
        done.append(ops(out)[-1])
        after.append(restart())
    assert after[-1] == "3.0.0" and done == sorted(done)
    total, seen = done[-1], set()
    for n, how in ((n, how) for n in range(1, total + 1) for how in (0, 1, 2)):
        dev.flash.unlink(missing_ok=True)
        rc, out = dev.run(f"cut {n} {how}", *script)
        assert rc == CUT_EXIT, (n, out)
        dev.inspect()                                        # before the restart: the active slot is whole
        k = next(i for i in range(1, len(done)) if done[i - 1] < n <= done[i])    # the command cut
        got = restart()
        assert got in (after[k - 1], after[k]), (n, how, script[k - 1], got, after[k - 1], after[k])
        seen.add(got)
        rc, out = dev.run("open", "stage v9.man v9.bin 320", "activate", "confirm", "open")
        assert rc == 0 and serving(out)[1:] == ["kws", "9.0.0", "9"], (n, out)
    assert seen == {"none", "1.0.0", "2.0.0", "3.0.0"}, seen
    print(f"\n{total} flash operations x 3 ways to cut each, each restarted and checked")


def test_qemu_killed_during_staging_and_activation_restarts_serving_a_whole_image(m4_device, tmp_path):
    """The emulated Cortex-M4 with its flash in a host file: QEMU killed (SIGKILL) while it stages a
    50 KB v2, and again once staging is done (during or after activate/confirm); the power cut
    injected inside each flash operation of activate and of confirm.  Each time QEMU restarts from
    the file and serves v1 or v2 whole, as the flash read back in Python shows too."""
    target, exe, _ = m4_device
    dev = Device(target, exe, tmp_path / "dev", 4096, 64 * 1024, ed25519.Ed25519PrivateKey.generate(), unit=32)
    v1, v2 = payload(50 * 1024, 1), payload(48 * 1024, 2)
    dev.release("v1", v1, "1.0.0", 1)
    dev.release("v2", v2, "2.0.0", 2)
    rc, out = dev.run("open", "stage v1.man v1.bin 1024", "activate")
    assert rc == 0 and "activate ok" in out, out
    base = tmp_path / "v1.flash"
    shutil.copy(dev.flash, base)
    update = ("open", "stage v2.man v2.bin 256", "activate", "confirm")

    def restarted(expect):
        rc, out = dev.run("open")
        assert rc == 0, out
        state, image = dev.inspect()
        assert image == {"1.0.0": v1, "2.0.0": v2}[serving(out)[2]] and serving(out)[2] in expect, out
        return serving(out)[2]

    # killed while staging: after the 32nd chunk has been written.  Chunks of 32 B (1,536 of them) so that
    # the kill lands mid-staging even when this process is descheduled while QEMU runs on (with 256 B
    # chunks a loaded machine let staging finish before the kill arrived)
    proc = dev.popen("open", "stage v2.man v2.bin 32", "activate", "confirm")
    for line in proc.stdout:
        if line.decode().strip() == "chunk 32":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert restarted({"1.0.0"}) == "1.0.0"
    slot1 = dev.flash.read_bytes()[2 * 4096 + 64 * 1024:][:HEADER + len(v2)]
    assert slot1[HEADER:HEADER + 32 * 32] == v2[:32 * 32] and slot1[:4] != b"EDGM"     # half staged, never activated
    with pytest.raises(SignatureError):
        device_slots.slot_image(dev.flash.read_bytes(), 4096, 64 * 1024, 1, dev.key.public_key())
    # killed once staging is done: wherever activate / confirm happened to be
    shutil.copy(base, dev.flash)
    proc = dev.popen(*update)
    for line in proc.stdout:
        if line.decode().strip() == "stage ok":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    restarted({"1.0.0", "2.0.0"})
    # the power cut inside each flash operation of activate and confirm
    shutil.copy(base, dev.flash)
    rc, out = dev.run(*update[:2])
    staged = ops(out)[-1]
    shutil.copy(base, dev.flash)
    rc, out = dev.run(*update)
    record = (ops(out)[-1] - staged) // 2                   # activate, confirm: erase + program a state record each
    assert rc == 0 and ops(out)[-1] == staged + 2 * record and record == 3, out   # 48 B in 32-byte units: 2 programs
    served = []
    for n in range(1, 2 * record + 1):
        for how in (0, 1, 2):
            shutil.copy(base, dev.flash)
            rc, out = dev.run(f"cut {staged + n} {how}", *update)
            assert rc == CUT_EXIT, out
            served.append(restarted({"1.0.0", "2.0.0"}))
    # cut in activate: the restart reverts the unconfirmed trial; only once confirm's record is whole: v2
    assert served[:-3] + served[-2:] == ["1.0.0"] * (len(served) - 2) + ["2.0.0"], served   # [-3]: part of the last program


def test_device_and_python_refuse_the_same_malformed_manifests(host_device, tmp_path):
    """Manifests signed by the right key but not in the one byte form (garbage after the name's
    NUL, an empty version, a space in the name, an unknown flag, another format or magic): the
    device refuses each before staging (-2) and fleet/device_manifest.parse refuses each too.
    A chunk that is not whole program units of the flash (4 bytes here), except the last: -8."""
    from cryptography.hazmat.primitives.asymmetric import ec
    target, exe, _ = host_device
    key = ed25519.Ed25519PrivateKey.generate()
    dev = Device(target, exe, tmp_path, 512, 4096, key, unit=4)
    image = payload(1000, 7)
    good = device_manifest.make(key, image, "kws", "1.0.0", 1)
    body = bytearray(good[:device_manifest.MANIFEST_BYTES])
    bad = {"name_tail": (48 + 4, b"x"), "empty_version": (112, b"\0" * 5), "space_in_name": (48 + 1, b" "),
           "flag": (6, b"\x02"), "format": (4, b"\x02"), "magic": (0, b"EDGX")}
    cmds = ["open"]
    for name, (at, raw) in bad.items():
        m = bytearray(body)
        m[at:at + len(raw)] = raw
        signed = bytes(m) + key.sign(bytes(m))
        with pytest.raises(SignatureError):
            device_manifest.parse(signed, key.public_key(), image)
        (tmp_path / f"{name}.man").write_bytes(signed)
        (tmp_path / f"{name}.bin").write_bytes(image)
        cmds.append(f"stage {name}.man {name}.bin 256")
    (tmp_path / "good.man").write_bytes(good)
    (tmp_path / "good.bin").write_bytes(image)
    assert device_manifest.parse(good, key.public_key(), image)["version"] == "1.0.0"
    rc, out = dev.run(*cmds, "stage good.man good.bin 250", "stage good.man good.bin 256")
    assert rc == 0 and [l for l in out if l.startswith("stage")] == ["stage error -2"] * len(bad) + [
        "stage error -8", "stage ok"], out                 # a chunk that is not whole 4-byte program units: refused
    with pytest.raises(SignatureError, match="Ed25519 only"):
        device_manifest.make(ec.generate_private_key(ec.SECP256R1()), image, "kws", "1.0.0", 1)
