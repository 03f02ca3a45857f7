"""Quality scores of the exact quantised file: an in-process lm-eval model over llama.cpp, local task data, suites."""
