"""The in-process runtimes the measurement protocol drives (harness/measure/throughput.py): the Runtime interface
(base.py) and llama.cpp through llama-cpp-python's C API (llamacpp.py), loaded in worker processes."""
