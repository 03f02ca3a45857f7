"""This machine and the ones for sale: the fingerprint (CPU, memory, GPUs, llama.cpp build), GPUs, power sensors, and the
hardware table of devices with their bandwidth, memory, price and power."""
