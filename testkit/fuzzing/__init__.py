"""Mutation fuzzing of edgec's importers, in four parts: seeds (the real and synthetic models a case
starts from), mutators (what is done to them), checks (running one case and judging its outcome) and
engines (the sandboxed worker process and the seeded engine that drives it).

Used by tests/test_fuzz_importers.py (a bounded, deterministic run in CI) and bench/fuzz_importers.py
(longer runs on demand, seeded or coverage-guided with atheris).

A *case* is a set of files (the model, plus a Darknet .weights, an ONNX external-data file ...) made
from a real model by a few mutations: byte-level (bit flips, interesting bytes, truncation, chunk
deletion/duplication, splices between seeds of one format) and structure-aware (ONNX protobuf fields
through the onnx API, Keras config JSON, HDF5 datasets and attributes through h5py, .keras zip
members, Darknet cfg lines and weights headers).  Every mutator draws its choices from an `rng` with
the `random.Random` methods randrange/randint/choice/random/randbytes, so the same mutators run from
a seeded Random (reproducible: case = (seed, index)) or from atheris' FuzzedDataProvider.

The runner imports each case in a worker process with RLIMIT_AS = 2 GiB and a 10 s deadline, from an
empty working directory, then canonicalizes the graph and, when the model is small, compiles it for
the host into an `-o` directory.  A case passes when it ends in success or in an EdgecError whose
message is one printable line naming the model file, and when nothing was written outside `-o` and
the input files are unchanged.  Anything else is a finding: another exception (with the innermost
edgec frame), a dead worker (signal), a hang, a bad message, or a write outside `-o`.
"""
