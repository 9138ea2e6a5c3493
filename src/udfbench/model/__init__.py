"""The model: its spec and saved bytes, the ``Predictor`` that runs in every worker, the reference
answers, and one runtime per model format under ``runtimes/``."""
