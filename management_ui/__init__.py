"""Management UI and HTTP API (h11 on Trio)."""
