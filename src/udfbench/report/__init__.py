"""All rendering: a run's report, the terminal, and the outputs of compare, check and history.

Everything here is a function of run folders' files (no Spark, no TensorFlow); ``build.py`` builds a
run's report.
"""
