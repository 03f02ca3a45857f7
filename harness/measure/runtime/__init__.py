"""The in-process runtimes the measurement protocol drives (harness/measure/throughput.py): the Runtime interface
(base.py) and llama.cpp through llama-cpp-python's C API (llamacpp.py), loaded in worker processes; and
llama-cpp-python's server started with the repack setting that runs here (lcpp_server.py, for `meek load --serve`)."""
