"""edgec: trained models to integer-only C99 for microcontrollers.

The repository root is the package: edgec.<folder>.<module> is <folder>/<module>.py."""
