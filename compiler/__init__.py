"""The compiler's core: the IR, the op registry (ops/: each op declared once), the importers that turn a
model file into the IR, and the float and integer arithmetic every later stage shares."""
__version__ = "0.1.0"
