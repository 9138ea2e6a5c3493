"""udfbench: measure every way to run a model over a large image dataset on Apache Spark."""

__version__ = "0.1.0"
