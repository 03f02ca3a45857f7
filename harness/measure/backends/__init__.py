"""Runtimes that load a GGUF model and time token processing. Each backend speaks the small interface in base.py."""
