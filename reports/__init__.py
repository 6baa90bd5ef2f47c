"""What a build reports: the per-layer table and report.json, and its HTML page."""
