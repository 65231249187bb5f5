"""Backstop layers (docs/engine.md, docs/layers/): each kind in its own package, registered in `registry.py`."""
