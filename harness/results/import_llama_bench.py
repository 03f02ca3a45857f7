"""Importing llama-bench's output (`meek import llama-bench`): `-o json` and `-o jsonl` output as result files, so posted numbers can be compared.

Records are grouped into one result per (machine, build, model file). The summaries are recomputed from llama-bench's raw
samples (its JSON rounds the rates), and each record is checked on its own: a bad one is skipped with its reason.
What llama-bench does not record (RAM size, the model's sha256, time to first token) stays empty rather than guessed.

The other importers (import_tables, import_geerling, import_scoreboard, import_localscore) share what is here: every
row becomes a Row of its group's result, every cell is parsed into its type within a bound (`number`, `integer`), and
`Imported.keep_valid` refuses a row the validator would fail on its own, keeping the good rows of its group. A row's
refusal is one line naming it ("row 7: ...", "record 3: ..."); no cell, however malformed, stops the import.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.catalogue.hardware import find_device, vendor_of
from harness.catalogue.models import load_catalog
from harness.errors import MeekError
from harness.results.reading import MAX_FILE_BYTES, read_text
from harness.results.schema import (
    BenchResult,
    Cpu,
    Gpu,
    LlamaBuild,
    Machine,
    ModelInfo,
    Protocol,
    Run,
    Settings,
    TestShape,
    new_result,
)
from harness.results.stats import summarize
from harness.results.store import safe_name
from harness.version import __version__

if TYPE_CHECKING:
    from harness.results.validate import Validator

RATE_TOLERANCE = 1e-3  # llama-bench prints rates to about six significant digits


class Record(BaseModel):
    """The llama-bench JSON fields the import needs; others are ignored."""

    model_config = ConfigDict(extra="ignore")
    build_commit: str = Field(max_length=80)
    build_number: int = 0
    cpu_info: str = Field(max_length=200)
    gpu_info: str = Field(default="", max_length=400)
    backends: str = Field(default="", max_length=80)
    model_filename: str = Field(max_length=1000)
    model_type: str = Field(max_length=200)
    model_size: int = Field(ge=0, le=2**50)
    model_n_params: int = Field(ge=0, le=10**14)
    n_batch: int = Field(ge=1, le=10**6)
    n_ubatch: int = Field(ge=1, le=10**6)
    n_threads: int = Field(ge=1, le=8192)
    type_k: str = Field(max_length=10)
    type_v: str = Field(max_length=10)
    n_gpu_layers: int = Field(ge=-1, le=10000)
    flash_attn: int | bool = 0
    repack: int | bool | None = None  # llama-bench's --repack (use_extra_bufts); absent in files before it had the flag
    n_prompt: int = Field(ge=0, le=10**7)
    n_gen: int = Field(ge=0, le=10**7)
    n_depth: int = Field(default=0, ge=0, le=10**7)
    test_time: dt.datetime
    avg_ts: float = Field(ge=0, le=1e9)
    samples_ns: list[Annotated[int, Field(ge=1, le=10**15)]] = Field(min_length=1, max_length=10000)


@dataclass
class Row:
    """The runs one row (record, line) of a source gave its group's result, and how a refusal names the row."""

    label: str  # "row 7", "record 3", "line 12"
    runs: list[Run]
    created: dt.datetime | None = None  # when the row says it ran (the result's date is its earliest row's)


class Groups:
    """Results being built, one per group key, each with the rows its runs come from (so a row can be refused alone)."""

    def __init__(self) -> None:
        self.results: dict[object, BenchResult] = {}
        self.rows: dict[object, list[Row]] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.results

    def start(self, key: object, result: BenchResult) -> None:
        self.results[key], self.rows[key] = result, []

    def add(self, key: object, row: Row) -> None:
        self.rows[key].append(row)

    def __iter__(self) -> Iterator[tuple[BenchResult, list[Row]]]:
        return ((self.results[key], self.rows[key]) for key in self.results)


ROW_ERRORS = (ValueError, KeyError, TypeError, ArithmeticError)  # ValidationError is a ValueError


def published_protocol(
    backend: Literal["llama-bench", "localscore"],
    timing: str,
    imported_from: str,
    source: str | None = None,
    repetitions: int | None = None,
) -> Protocol:
    """The protocol of an imported result: warm-up as llama-bench does it, seed 0, how it was timed and where it came
    from (cut to the schema's lengths)."""
    return Protocol(
        backend=backend,
        repetitions=repetitions,
        warmup=True,
        seed=0,
        timing=timing,
        imported_from=imported_from[:300],
        source=None if source is None else source[:500],
    )


def reason(error: Exception) -> str:
    """One line saying why a row was refused."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} in it"
    return (str(error).splitlines() or [type(error).__name__])[0][:300]


def _composed(result: BenchResult, rows: list[Row]) -> BenchResult:
    created = [row.created for row in rows if row.created is not None]
    return result.model_copy(
        update={"runs": [run for row in rows for run in row.runs], "created_utc": min(created) if created else result.created_utc}
    )


def _labels(rows: list[Row]) -> str:
    shown = ", ".join(row.label for row in rows[:5])
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


@dataclass
class Imported:
    results: list[BenchResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "record N: reason", one line per row (or group) refused

    def refuse(self, label: str, error: Exception | str) -> None:
        self.skipped.append(f"{label}: {error if isinstance(error, str) else reason(error)}")

    def keep_valid(self, groups: Iterable[tuple[BenchResult, list[Row]]], source_name: str) -> Imported:
        """Keep the results `meek validate` would accept. A result it refuses is tried row by row: each row that fails
        on its own is refused with the validator's reason, and the result is kept with the rows that pass (one impossible
        row never costs its group the genuine ones); when no row passes alone the result is refused as one."""
        from harness.results.validate import Validator

        validator = Validator()  # the catalogue is read once for the whole import, not once per result
        for result, rows in groups:
            if not rows:
                continue
            whole = _composed(result, rows)
            why = validated(whole, source_name, validator)
            if why is None:
                self.results.append(whole)
                continue
            where = f"({whole.model.label} on {whole.machine.machine_id})"
            alone = [(row, validated(_composed(result, [row]), source_name, validator)) for row in rows] if len(rows) > 1 else []
            good = [row for row, failed in alone if failed is None]
            if not good:
                self.skipped.append(f"{_labels(rows)} {where}: {why}")
                continue
            for row, failed in alone:
                if failed is not None:
                    self.skipped.append(f"{row.label} {where}: {failed}")
            kept = _composed(result, good)
            why = validated(kept, source_name, validator)
            if why is None:
                self.results.append(kept)
            else:
                self.skipped.append(f"{_labels(good)} {where}: {why}")
        return self


def number(text: str | None, what: str, low: float, high: float) -> float:
    """A cell as a float in [low, high]: ValueError naming the cell when it is no number or out of range (1e400, NaN)."""
    text = (text or "").strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > 40:
        raise ValueError(f"{what} {text[:20]!r}... is not a number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{what} {text} is out of range ({low:g} to {high:g})")
    return value


LEADING = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)")


def leading_number(text: str | None, what: str, low: float, high: float) -> float | None:
    """The number a cell starts with ('6.74 B', '3.56 GiB'), bounded; None when the cell is empty or holds none."""
    match = LEADING.match(text or "")
    return number(match.group(1), what, low, high) if match else None


def integer(text: str | None, what: str, low: int, high: int) -> int:
    """A cell as an int in [low, high]; its digits are counted before it is converted (no 4,000-digit int())."""
    text = (text or "").strip()
    if not re.fullmatch(r"[+-]?\d{1,19}", text):
        raise ValueError(f"{what} {text[:20]!r} is not an integer in range" if text else f"{what} is empty")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{what} {text} is out of range ({low} to {high})")
    return value


class Cells(dict):
    """A CSV row: a cell the row lacks (a column missing, a row cut short) is absent, and asking for it is a reason."""

    def __missing__(self, key: str) -> str:
        raise ValueError(f"no {key!r} cell")


def csv_rows(text: str, delimiter: str = ",") -> Iterator[Cells | ValueError]:
    """The rows of a CSV as Cells, in order; a row the csv module cannot read (a cell over its size limit) comes as
    the ValueError saying why, so it is refused alone and the rows after it are still read."""
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield ValueError(f"unreadable CSV: {error}")
            continue
        yield Cells((k, v) for k, v in row.items() if isinstance(k, str) and isinstance(v, str))


class _Twice(dict):
    """A JSON object that gave a key more than once (readers would disagree on its value)."""

    twice = ""


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    seen: set[str] = set()
    twice = _Twice(document)
    twice.twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
    return twice


def _int(text: str) -> int | float:
    """An integer, or infinity for one past 19 digits: the record holding it is refused by its field's bound."""
    if len(text.lstrip("-")) > 19:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def _loads(text: str) -> object:
    return json.loads(text, parse_int=_int, parse_constant=lambda name: math.inf, object_pairs_hook=_pairs)


def read_records(path: Path) -> tuple[list[object], str]:
    """The records of a llama-bench json (an array) or jsonl (one object per line) file, and which of the two it was.
    A jsonl line that is not JSON comes as a ValueError, refused as its record; a number out of range stays in its
    record, to be refused by that record's bounds."""
    text = read_text(path, 50 * MAX_FILE_BYTES)
    records: list[object]
    try:
        if text.lstrip().startswith("["):
            loaded, kind = _loads(text), "json"
            records = loaded if isinstance(loaded, list) else []
        else:
            records, kind = [], "jsonl"
            for line in (line for line in text.splitlines() if line.strip()):
                try:
                    records.append(_loads(line))
                except (ValueError, RecursionError) as error:
                    records.append(
                        ValueError(f"not JSON ({'nested too deeply' if isinstance(error, RecursionError) else error})")
                    )
    except (ValueError, RecursionError) as error:
        raise MeekError(f"{path}: not llama-bench json or jsonl output ({error})") from None
    if not records:
        raise MeekError(f"{path}: no llama-bench records found")
    if all(isinstance(record, ValueError) for record in records):
        raise MeekError(f"{path}: not llama-bench json or jsonl output ({str(records[0])[len('not JSON (') : -1]})")
    return records, kind


def quant_of(model_type: str) -> str | None:
    """'llama 8B Q4_K - Medium' -> 'Q4_K_M'; 'llama 256M Q4_1' -> 'Q4_1' (llama.cpp's file-type names)."""
    match = re.search(
        r"\b((?:I?Q\d\w*|F16|BF16|F32|MXFP4))(?: MoE)?(?: - (Small|Medium|Large|Extra Small|XS|XXS))?\s*$", model_type
    )
    if not match:
        return None
    size = {"Small": "S", "Medium": "M", "Large": "L", "Extra Small": "XS"}.get(match.group(2) or "", match.group(2) or "")
    return f"{match.group(1)}_{size}" if size else match.group(1)


def gpu_entries(gpu_info: str) -> list[Gpu]:
    gpus = []
    for name in filter(None, (part.strip() for part in gpu_info.split(","))):
        vendor = vendor_of(name)
        device = find_device(name)
        gpus.append(Gpu(vendor=vendor, name=name, unified_memory=bool(device and device.kind == "unified")))
    return gpus


def machine_of(record: Record) -> Machine:
    """A machine described by llama-bench's cpu_info and gpu_info only; its id is stable for the same description."""
    gpus = gpu_entries(record.gpu_info)
    chip = gpus[0].name if gpus else record.cpu_info
    slug = "-".join(re.findall(r"[a-z0-9]+", chip.lower()))[:40] or "machine"
    digest = hashlib.sha256(f"{record.cpu_info}|{record.gpu_info}|{record.backends}".encode()).hexdigest()[:6]
    unified = any(g.unified_memory for g in gpus) or bool((d := find_device(record.cpu_info)) and d.kind == "unified")
    return Machine(
        machine_id=f"{slug}-llama-bench-{digest}",
        cpu=Cpu(model=record.cpu_info, arch="unknown", simd=[]),
        memory_bytes=None,
        gpus=gpus,
        unified_memory=unified,
        os={},
        python="unknown",
        harness_version=__version__,
        llama_cpp=LlamaBuild(
            commit=record.build_commit,
            backends=[b for b in record.backends.split(",") if b] or ["CPU"],
            gpu_offload=record.n_gpu_layers != 0 and record.backends not in ("", "CPU"),
        ),
    )


def run_of(record: Record) -> Run:
    shape = TestShape(record.n_prompt, record.n_gen, record.n_depth)
    if shape.n_prompt + shape.n_gen == 0:
        raise ValueError("a test with no prompt and no generated tokens")
    summary = summarize(shape.n_prompt + shape.n_gen, record.samples_ns)
    if not math.isclose(summary["avg_ts"], record.avg_ts, rel_tol=RATE_TOLERANCE):
        raise ValueError(f"avg_ts {record.avg_ts} does not follow from samples_ns ({summary['avg_ts']:.4f})")
    settings = Settings(
        n_gpu_layers=record.n_gpu_layers,
        n_batch=record.n_batch,
        n_ubatch=record.n_ubatch,
        flash_attn=int(record.flash_attn),
        type_k=record.type_k,
        type_v=record.type_v,
        repack=None if record.repack is None else int(record.repack),
    )
    return Run(
        test=shape.name,
        n_prompt=shape.n_prompt,
        n_gen=shape.n_gen,
        n_depth=shape.n_depth,
        n_threads=record.n_threads,
        n_ctx=shape.n_ctx,
        settings=settings,
        samples_ns=record.samples_ns,
        **summary,
    )


def model_of(record: Record, catalog_files: dict[str, str]) -> ModelInfo:
    file_name = re.split(r"[/\\]", record.model_filename)[-1]
    return ModelInfo(
        id=catalog_files.get(file_name),
        label=catalog_files.get(file_name) or Path(file_name).stem,
        file_name=file_name,
        file_size_bytes=record.model_size,
        quant=quant_of(record.model_type),
        n_params=record.model_n_params,
        description=record.model_type,
    )


def import_file(path: Path) -> Imported:
    """Every valid record of one llama-bench output file, grouped into result files (not yet written)."""
    raw_records, kind = read_records(path)
    return results_from_records(raw_records, f"llama-bench -o {kind}", safe_name(path.name))


def results_from_records(raw_records: list, produced_by: str, source_name: str) -> Imported:
    """llama-bench records grouped into results, one per (machine, build, model file). A record that does not parse, or
    one that `meek validate` would reject (markup, a future date, an impossible rate), is skipped with its reason, and
    the other records of its group are kept: import never writes a file its own validator fails."""
    catalog_files = {name: m.id for m in load_catalog().models if (name := m.source.file or m.source.hf_file)}
    imported, groups = Imported(), Groups()
    for number, raw in enumerate(raw_records, 1):
        try:
            if isinstance(raw, Exception):
                raise raw
            if isinstance(raw, _Twice):
                raise ValueError(f"key {raw.twice!r} appears twice in one object")
            record = Record.model_validate(raw)
            run = run_of(record)
            test_time = record.test_time if record.test_time.tzinfo else record.test_time.replace(tzinfo=dt.timezone.utc)
            key = (record.cpu_info, record.gpu_info, record.backends, record.build_commit, record.model_filename)
            if key not in groups:
                groups.start(
                    key,
                    new_result(
                        machine_of(record),
                        model_of(record, catalog_files),
                        status="complete",
                        created_utc=test_time,
                        protocol=published_protocol(
                            "llama-bench",
                            "llama-bench's own samples_ns (its warm-up is not in its output)",
                            f"{produced_by}, build {record.build_commit} ({record.build_number}), {source_name}",
                            repetitions=len(record.samples_ns),
                        ),
                    ),
                )
        except ROW_ERRORS as error:
            imported.refuse(f"record {number}", error)
            continue
        groups.add(key, Row(f"record {number}", [run], test_time))
    return imported.keep_valid(groups, source_name)


def validated(result: BenchResult, source_name: str, validator: Validator | None = None) -> str | None:
    """Why `meek validate` would refuse the result once written (None when it would pass): an importer writes only files
    its own validator accepts."""
    from harness.results.document import canonical_text, signed_document
    from harness.results.reading import has_markup_or_control
    from harness.results.validate import FileReport, Validator

    try:
        document = signed_document(result)
    except MeekError as error:
        return str(error)
    text = canonical_text(document)
    if has_markup_or_control(text):
        return "markup, script, control or text-direction characters in a string"
    report = (validator or Validator()).check_document(document, text, FileReport(Path(source_name)))
    return "; ".join(report.failures) or None
