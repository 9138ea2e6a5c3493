"""The run folder, the seam between measuring and reading: its schema, the events a run sends, the
writers that keep them, the readers, and case identity. Needs no Spark, no TensorFlow."""
