"""Result files: the schema (versioned, signed by a content hash), validating strangers' files, submitting, importing
llama-bench output, and printing results as tables."""
