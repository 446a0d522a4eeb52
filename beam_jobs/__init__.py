"""Apache Beam pipelines (thin: the per-frame work lives in pure functions elsewhere)."""
