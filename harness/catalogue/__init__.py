"""The model catalogue: models.yaml's entries, fetching and resolving a model to a local GGUF file, and what its header says."""
