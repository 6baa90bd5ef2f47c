"""edgec: trained models to integer-only C99 for microcontrollers."""
__version__ = "0.1.0"
