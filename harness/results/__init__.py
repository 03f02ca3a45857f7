"""Result files: the schema (versioned, signed by a content hash), run statistics, validating strangers' files, writing
and upgrading them, submitting, the importers of other tools' output and published tables, and printing them as tables."""
