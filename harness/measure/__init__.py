"""Measuring: sweep syntax and protocol types, the preflight probe, the worker process and its events, the in-process
runner (llama-bench's protocol), the backends `meek bench --backend` measures through, load sweeps, RPC splits."""
