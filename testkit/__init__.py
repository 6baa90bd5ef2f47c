"""What tests/ and bench/ share: the real models with their calibration data and inputs (cases), the
synthetic models no real file has (synthetic), held-out images for accuracy (heldout), the importer
fuzzer (fuzzing: seeds, mutators, checks, engines), the zoo of mobile CNNs in PyTorch and Keras 3
(zoo_mobile), small .tflite models written without TensorFlow (tflite_writer, tflite_models) and TFLite
Micro as their oracle (tflm).  bench/ imports nothing from tests/ (tests/test_house.py checks it).

Not part of the installed edgec package: both import it by package from the repository root (pytest
through pyproject's `pythonpath`, bench/*.py by putting the root on sys.path)."""
