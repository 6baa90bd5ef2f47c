"""What tests/ and bench/ share: the real models with their calibration data and inputs (cases), the
synthetic models no real file has (synthetic), held-out images for accuracy (heldout), and the
importer fuzzer (fuzzing: seeds, mutators, checks, engines).

Not part of the installed edgec package: both import it by package from the repository root (pytest
through pyproject's `pythonpath`, bench/*.py by putting the root on sys.path)."""
