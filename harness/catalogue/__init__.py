"""The catalogues: models.yaml's entries (fetching and resolving a model to a local GGUF file, what its header says) and the
hardware table of devices for sale (bandwidth, memory, price, power)."""
