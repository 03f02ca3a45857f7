"""This machine: the fingerprint (CPU, memory, GPUs, llama.cpp build), its GPUs and its power sensors. The devices for
sale are the catalogue's hardware table (harness/catalogue/hardware.py)."""
