"""The plan: the config file's pydantic models, the cases it asks for and their estimate, and the
registries' names. Pure: nothing here starts Spark or loads a model."""
