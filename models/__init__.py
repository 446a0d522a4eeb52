"""Keras model presets, losses, bone-length prior and refinement. No file I/O here."""
