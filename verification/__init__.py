"""Proof that the generated C is the reference: toolchains, emulators, the harness, verification, cycle
and stack bounds, and builds of the device runtime."""
