"""Spark: clusters and sessions (local, standalone, an existing cluster) and the Java they need."""
