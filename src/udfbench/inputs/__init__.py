"""The inputs: seed images and the datasets drawn from them, Parquet tables of images, staging, and
the decode every strategy shares; ``cells`` is what a worker reads."""
