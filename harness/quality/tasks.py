"""Task definitions for lm-eval that read the local benchmark files (../shared/data/bench layout), and the suites.

The prompts and metrics reproduce lm-eval's standard tasks (hellaswag, arc_challenge, mmlu, gsm8k). Another folder in the
same formats works too: a folder of MMLU-style subject folders (`<set>/<set>-<subject>/{test,dev}.jsonl`) becomes a group
scored like MMLU; a folder with an ARC-style `test.jsonl` (centerpiece, options, correct_options_idx) becomes a task
scored like ARC.
"""

from __future__ import annotations

import bz2
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import MeekError, UsageError
from harness.home import meek_home

MC_METRICS = [
    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
]
LETTERS = "ABCDEFGHIJ"


@dataclass
class LocalTask:
    """One benchmark read from local files: lm-eval configs (several for a group) and how many items each has."""

    name: str
    configs: list[dict]
    sizes: dict[str, int]
    primary_metric: str
    default_shots: int

    @property
    def is_group(self) -> bool:
        return len(self.configs) > 1


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _json_files(**splits: Path) -> dict:
    return {"dataset_path": "json", "dataset_kwargs": {"data_files": {k: str(v) for k, v in splits.items()}}}


def arc_style(name: str, folder: Path, shots: int) -> LocalTask:
    files = {"test": folder / "test.jsonl"}
    if (folder / "dev.jsonl").is_file():
        files["validation"] = folder / "dev.jsonl"
    config = {
        "task": name,
        **_json_files(**files),
        "output_type": "multiple_choice",
        "test_split": "test",
        "fewshot_split": "validation" if "validation" in files else "test",
        "doc_to_text": "Question: {{centerpiece}}\nAnswer:",
        "doc_to_target": "{{correct_options_idx[0]}}",
        "doc_to_choice": "{{options}}",
        "metric_list": MC_METRICS,
        "num_fewshot": shots,
        "metadata": {"version": 1.0, "source": str(folder)},
    }
    return LocalTask(name, [config], {name: _count_lines(files["test"])}, "acc_norm", shots)


def mmlu_style(name: str, folder: Path, shots: int) -> LocalTask:
    configs, sizes = [], {}
    for subject_dir in sorted(p for p in folder.iterdir() if (p / "test.jsonl").is_file()):
        subject = subject_dir.name.split("-", 1)[1] if "-" in subject_dir.name else subject_dir.name
        task = f"{name}_{subject.replace('-', '_')}"
        files = {"test": subject_dir / "test.jsonl"}
        if (subject_dir / "dev.jsonl").is_file():
            files["dev"] = subject_dir / "dev.jsonl"
        configs.append(
            {
                "task": task,
                **_json_files(**files),
                "output_type": "multiple_choice",
                "test_split": "test",
                "fewshot_split": "dev" if "dev" in files else "test",
                "fewshot_config": {"sampler": "first_n"},
                "description": f"The following are multiple choice questions (with answers) about {subject.replace('-', ' ')}.\n\n",
                "doc_to_text": "{{centerpiece.strip()}}\n"
                + "\n".join(f"{letter}. {{{{options[{i}]}}}}" for i, letter in enumerate(LETTERS[:4]))
                + "\nAnswer:",
                "doc_to_target": "{{correct_options_idx[0]}}",
                "doc_to_choice": list(LETTERS[:4]),
                "metric_list": [MC_METRICS[0]],
                "num_fewshot": shots,
                "metadata": {"version": 1.0, "source": str(subject_dir)},
            }
        )
        sizes[task] = _count_lines(files["test"])
    if not configs:
        raise MeekError(f"{folder} holds no <subject>/test.jsonl folders")
    return LocalTask(name, configs, sizes, "acc", shots)


def hellaswag_jsonl(source: Path) -> Path:
    """Convert the 6-lines-per-item text file (context, gold label, 4 endings) into JSONL once, cached in $MEEK_HOME."""
    stat = source.stat()
    target = meek_home() / "data" / f"hellaswag-{stat.st_size}-{int(stat.st_mtime)}.jsonl"
    if target.is_file():
        return target
    with bz2.open(source, "rt", encoding="utf-8") as compressed:
        lines = compressed.read().splitlines()
    if len(lines) % 6:
        raise MeekError(f"{source}: expected 6 lines per item (context, label, 4 endings), got {len(lines)} lines")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    with temporary.open("w") as out:
        for i in range(0, len(lines), 6):
            out.write(
                json.dumps(
                    {"query": lines[i].strip(), "label": int(lines[i + 1]), "choices": [e.strip() for e in lines[i + 2 : i + 6]]}
                )
                + "\n"
            )
    temporary.replace(target)
    return target


def hellaswag(name: str, folder: Path, shots: int) -> LocalTask:
    source = folder / "hellaswag_val_full.txt.bz2"
    data = hellaswag_jsonl(source)
    config = {
        "task": name,
        **_json_files(validation=data),
        "output_type": "multiple_choice",
        "test_split": "validation",
        "fewshot_split": "validation",
        "doc_to_text": "{{query}}",
        "doc_to_target": "{{label}}",
        "doc_to_choice": "{{choices}}",
        "metric_list": MC_METRICS,
        "num_fewshot": shots,
        "metadata": {"version": 1.0, "source": str(source)},
    }
    return LocalTask(name, [config], {name: _count_lines(data)}, "acc_norm", shots)


def gsm8k(name: str, folder: Path, shots: int) -> LocalTask:
    config = {
        "task": name,
        **_json_files(train=folder / "train.jsonl", test=folder / "test.jsonl"),
        "output_type": "generate_until",
        "training_split": "train",
        "fewshot_split": "train",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "metric_list": [
            {
                "metric": "exact_match",
                "aggregation": "mean",
                "higher_is_better": True,
                "ignore_case": True,
                "ignore_punctuation": False,
                "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"],
            },
        ],
        "generation_kwargs": {"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": False, "temperature": 0.0},
        "num_fewshot": shots,
        "filter_list": [
            {
                "name": "strict-match",
                "filter": [{"function": "regex", "regex_pattern": "#### (\\-?[0-9\\.\\,]+)"}, {"function": "take_first"}],
            },
            {
                "name": "flexible-extract",
                "filter": [
                    {"function": "regex", "group_select": -1, "regex_pattern": "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
                    {"function": "take_first"},
                ],
            },
        ],
        "metadata": {"version": 3.0, "source": str(folder)},
    }
    return LocalTask(name, [config], {name: _count_lines(folder / "test.jsonl")}, "exact_match,strict-match", shots)


# Standard task name -> (folder in the data dir, builder, default shots as in lm-eval's task)
KNOWN = {
    "mmlu": ("mmlu_nutcracker", mmlu_style, 0),
    "hellaswag": ("hellaswag", hellaswag, 0),
    "arc_challenge": ("arc-challenge", arc_style, 0),
    "gsm8k": ("gsm8k", gsm8k, 5),
}

# What --data-dir must hold for each standard task, and where the standard sets are published (../shared/data/bench is
# one copy of them, kept beside this project's checkout; a public clone does not have it).
LAYOUT = {
    "mmlu": (
        "mmlu_nutcracker/mmlu-<subject>/test.jsonl (+ dev.jsonl; fields centerpiece, options, correct_options_idx)",
        "MMLU as JSONL: brucewlee/nutcracker-db on Hugging Face",
    ),
    "hellaswag": (
        "hellaswag/hellaswag_val_full.txt.bz2 (6 lines an item: context, gold label 0-3, 4 endings)",
        "HellaSwag validation text: github.com/klosax/hellaswag_text_data",
    ),
    "arc_challenge": (
        "arc-challenge/test.jsonl (+ dev.jsonl; fields centerpiece, options, correct_options_idx)",
        "ARC-Challenge as JSONL: brucewlee/nutcracker-db on Hugging Face",
    ),
    "gsm8k": (
        "gsm8k/test.jsonl and train.jsonl (fields question, answer)",
        "GSM8K: github.com/openai/grade-school-math",
    ),
}


def needed_files(names: list[str]) -> str:
    """For an offline run: the files --data-dir must hold for these tasks, and where the standard sets come from."""
    known = [n for n in dict.fromkeys(names) if n in LAYOUT]
    files = "; ".join(f"{n}: DIR/{LAYOUT[n][0]}" for n in known)
    sources = "; ".join(dict.fromkeys(LAYOUT[n][1] for n in known))
    other = [n for n in dict.fromkeys(names) if n not in LAYOUT]
    text = f"--data-dir DIR must hold, for {files}" if known else ""
    if other:
        text += ("; " if text else "--data-dir DIR must hold ") + (
            f"for {', '.join(other)}: DIR/<name>/test.jsonl (ARC-style) or DIR/<name>/<subject>/test.jsonl (MMLU-style)"
        )
    return text + (f". The standard sets: {sources}" if sources else "")


def available_local_tasks(data_dir: Path) -> list[str]:
    """Names of the tasks the data dir can serve: the standard four where present, plus any folder in a known format."""
    names = [name for name, (folder, _, _) in KNOWN.items() if (data_dir / folder).is_dir()]
    known_folders = {folder for folder, _, _ in KNOWN.values()}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name not in known_folders):
        if (folder / "test.jsonl").is_file() or any((sub / "test.jsonl").is_file() for sub in folder.iterdir() if sub.is_dir()):
            names.append(folder.name.replace("-", "_"))
    return names


def local_task(name: str, data_dir: Path, shots: int | None = None) -> LocalTask:
    """Build the lm-eval configs for `name` from files under `data_dir`, or raise MeekError naming what is missing."""
    if name in KNOWN:
        folder_name, builder, default_shots = KNOWN[name]
        folder = data_dir / folder_name
        if not folder.is_dir():
            raise UsageError(f"task {name} needs {folder}, which is missing: {needed_files([name])}")
        try:
            return builder(name, folder, default_shots if shots is None else shots)
        except FileNotFoundError as error:
            raise UsageError(f"task {name}: a needed file is missing: {error.filename}") from None
    folder = data_dir / name.replace("_", "-")
    if not folder.is_dir():
        folder = data_dir / name
    if (folder / "test.jsonl").is_file():
        return arc_style(name, folder, 0 if shots is None else shots)
    if folder.is_dir():
        return mmlu_style(name, folder, 0 if shots is None else shots)
    raise UsageError(f"no data for task {name} under {data_dir}")


def seeded_subset(size: int, count: int, seed: int) -> list[int]:
    """A fixed, sorted choice of `count` item indices out of `size`, the same for everyone with the same seed."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(size, size=min(count, size), replace=False))


@dataclass(frozen=True)
class SuiteEntry:
    task: str
    items: int | None  # None = the whole test set; for a group, items per subtask (stratified)
    shots: int | None = None


SUITES = {
    # Sized so the bundled SmolLM2-135M finishes in well under 15 minutes on 2 cores (see BENCHMARKS.md).
    "quick": [SuiteEntry("mmlu", 3), SuiteEntry("hellaswag", 200), SuiteEntry("arc_challenge", 200), SuiteEntry("gsm8k", 20)],
    "full": [
        SuiteEntry("mmlu", None, 5),
        SuiteEntry("hellaswag", None),
        SuiteEntry("arc_challenge", None),
        SuiteEntry("gsm8k", None),
    ],
}
SUITE_SEED = 20251125
