import csv
import io
import json
from pathlib import Path

from harness.results.printers import FIELDS, MD_COLUMNS, render
from harness.results.schema import validate_document

GOLDEN = Path(__file__).parent / "golden" / "result-v1-smollm2.json"


def golden():
    return [validate_document(json.loads(GOLDEN.read_text()))]


def test_json_and_jsonl_carry_every_field_and_raw_samples():
    results = golden()
    rows = json.loads(render(results, "json"))
    assert len(rows) == len(results[0].runs)
    assert all(list(row) == FIELDS for row in rows)
    assert rows[0]["samples_ns"] == results[0].runs[0].samples_ns
    lines = render(results, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_csv_has_a_header_and_one_row_per_run():
    results = golden()
    parsed = list(csv.DictReader(io.StringIO(render(results, "csv"))))
    assert len(parsed) == len(results[0].runs)
    assert parsed[0]["test"] == results[0].runs[0].test
    assert float(parsed[0]["avg_ts"]) == results[0].runs[0].avg_ts
    assert parsed[0]["samples_ns"] == ";".join(map(str, results[0].runs[0].samples_ns))


def test_markdown_table_like_llama_bench():
    results = golden()
    lines = render(results, "md").splitlines()
    assert lines[0] == "| " + " | ".join(MD_COLUMNS) + " |"
    assert len(lines) == 2 + len(results[0].runs)
    run = results[0].runs[0]
    assert f"| {run.test} | {run.avg_ts:.2f} ± {run.stddev_ts:.2f}" in lines[2]


def test_the_one_markdown_writer_escapes_what_would_break_a_row():
    """A '|' in a stranger's model name cannot open a column, a newline cannot start a row (every table goes through
    harness.output.markdown_table)."""
    from harness.output import markdown_table

    table = markdown_table(["model", "t/s"], [["evil | name\n| x | 1 |", "12.5"]], right=["t/s"])
    lines = table.splitlines()
    assert lines[:2] == ["| model | t/s |", "|---|---:|"]
    assert len(lines) == 3 and lines[2] == "| evil \\| name?\\| x \\| 1 \\| | 12.5 |"
