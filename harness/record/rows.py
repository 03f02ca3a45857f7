"""A stored result as the rows compare and advise read: the functions of harness/aggregate/tree.py (run_rows,
score_rows, serving_rows, model_key), with the catalogue facts they need, so a Tree built from the database holds the
same rows as one loaded from the same files."""

from __future__ import annotations

from pathlib import Path

from harness.aggregate.tree import model_key, run_rows, score_rows, serving_rows
from harness.results.facts import bytes_per_token
from harness.results.schema import BenchResult
from harness.results.validate import Validator


class Catalogue:
    """The catalogue as the validator and the tree read it (model files by sha256 and id)."""

    def __init__(self) -> None:
        self.validator = Validator()
        self.sha_by_id = {model_id: model.sha256 for model_id, model in self.validator.by_id.items() if model.sha256}

    def model_key(self, result: BenchResult) -> str:
        return model_key(result, self.sha_by_id)


def result_rows(result: BenchResult, file: Path, catalogue: Catalogue) -> tuple[list[dict], list[dict], list[dict]]:
    """(runs, scores, serving points) of one result, as load_tree makes them."""
    key = catalogue.model_key(result)
    per_token = bytes_per_token(result, catalogue.validator.model_of(result))
    return run_rows(result, key, file, per_token), score_rows(result, key, file), serving_rows(result, key, file)
