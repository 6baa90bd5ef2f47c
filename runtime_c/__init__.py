"""The C runtime kernels (edgec_<op>_s8.c) ship as package data of this package; no Python here."""
