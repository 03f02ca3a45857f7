"""The measurement protocol: sweep syntax and protocol types, the preflight probe, the worker process and its events, the
in-process runner (llama-bench's protocol) and the runners through a server or the user's llama-bench."""
