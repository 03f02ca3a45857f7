"""The model catalogue (models.yaml): what to run, and how a model id becomes a verified local GGUF file.

Sources: a file inside an installed package, a package that assembles its file, a Hugging Face repo file (downloaded into
the usual Hugging Face cache), or a local path. A user's own entries in $MEEK_HOME/models.yaml add to or override these.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import importlib.util
import socket
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.catalogue.gguf_file import read_gguf_facts, sha256_of
from harness.errors import MeekError, UsageError
from harness.home import SOURCE_ROOT, meek_home
from harness.text import UNPRINTABLE, one_line

DEFAULT_MODEL = "smollm2-135m"
TierName = Literal["tiny", "small", "medium", "large", "xl"]
TIERS: tuple[str, ...] = typing.get_args(TierName)
# Bounds on every number an entry holds: far beyond any real model, so a typo or a hostile entry (a negative or absurd
# file size lifts the speed bounds of harness/results/plausible.py) is refused when the catalogue is read.
MAX_PARAMS_B = 100_000.0  # 100 trillion parameters
MAX_MODEL_FILE_BYTES = 10 * 10**12  # 10 TB
MAX_CONTEXT = 2**27  # 134M tokens
MAX_LAYERS = 10_000
MAX_WIDTH = 10**6
MAX_VOCAB = 10**8
BITS_PER_WEIGHT_RANGE = (1.0, 40.0)  # a GGUF file's size over its parameters: IQ1_S is 1.56, F32 32 plus metadata
MAX_USER_FILE_BYTES = 4 * 2**20


class ModelSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str | None = None
    file: str | None = None
    assemble: bool = False
    hf_repo: str | None = None
    hf_file: str | None = None
    revision: str = "main"
    hf_shards: int = Field(default=1, ge=1, le=10_000)
    path: str | None = None
    upstream_hf_repo: str | None = None  # where a packaged file was converted from (information only)

    @model_validator(mode="after")
    def _one_kind(self) -> ModelSource:
        kinds = [bool(self.package), bool(self.hf_repo), bool(self.path)]
        if sum(kinds) != 1:
            raise ValueError("a source needs exactly one of package, hf_repo or path")
        if self.hf_repo and not self.hf_file:
            raise ValueError("hf_repo needs hf_file")
        if self.package and not (self.file or self.assemble):
            raise ValueError("package needs file or assemble: true")
        return self

    def describe(self) -> str:
        if self.package:
            return f"package {self.package}" + (" (assembled)" if self.assemble else f" ({self.file})")
        if self.hf_repo:
            return f"hf://{self.hf_repo}/{self.hf_file}@{self.revision}"
        return f"path {self.path}"


class ModelShape(BaseModel):
    """A model's attention shape and vocabulary (its config.json or GGUF header): what llama.cpp sizes the KV cache and
    compute buffers by (harness/memory_fit.py). swa_layers of the layers keep only the last sliding_window tokens."""

    model_config = ConfigDict(extra="forbid")
    layers: int = Field(gt=0, le=MAX_LAYERS)
    kv_heads: int = Field(gt=0, le=MAX_WIDTH)
    head_dim: int = Field(gt=0, le=MAX_WIDTH)
    heads: int = Field(gt=0, le=MAX_WIDTH)
    embedding: int = Field(gt=0, le=MAX_WIDTH)
    vocab: int = Field(gt=0, le=MAX_VOCAB)
    sliding_window: int = Field(default=0, ge=0, le=MAX_CONTEXT)
    swa_layers: int = Field(default=0, ge=0, le=MAX_LAYERS)

    @model_validator(mode="after")
    def _swa_within_layers(self) -> ModelShape:
        if self.swa_layers > self.layers:
            raise ValueError(f"swa_layers ({self.swa_layers}) is more than layers ({self.layers})")
        return self


class CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    name: str
    family: str
    tier: TierName
    params_total_b: float = Field(gt=0, le=MAX_PARAMS_B)
    params_active_b: float = Field(gt=0, le=MAX_PARAMS_B)
    moe: bool = False
    quant: str
    file_size_bytes: int | None = Field(default=None, gt=0, le=MAX_MODEL_FILE_BYTES)
    file_size_approx_gb: float | None = Field(default=None, gt=0, le=MAX_MODEL_FILE_BYTES / 1e9)
    size_recorded_at_revision: str | None = None
    release_date: dt.date
    license: str
    context_length: int = Field(gt=0, le=MAX_CONTEXT)
    context_length_extended: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)
    instruct: bool = False
    shape: ModelShape | None = None  # for the memory model; without it the KV cache is estimated from the parameters
    source: ModelSource
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    standard: bool = False
    info_url: str | None = None
    sources: list[str] = []
    evidence: list[str] = []

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if UNPRINTABLE.search(value) or any(c.isspace() for c in value):
            raise ValueError("an id has no spaces or control characters")
        return value

    @model_validator(mode="after")
    def _consistent_sizes(self) -> CatalogModel:
        if self.params_active_b > self.params_total_b:
            raise ValueError(f"params_active_b ({self.params_active_b:g}) is more than params_total_b ({self.params_total_b:g})")
        size = self.file_size_bytes or (self.file_size_approx_gb or 0) * 1e9
        low, high = BITS_PER_WEIGHT_RANGE
        if size and not low <= size * 8 / (self.params_total_b * 1e9) <= high:
            raise ValueError(
                f"a file of {size:.0f} bytes does not hold {self.params_total_b:g}B parameters "
                f"({size * 8 / (self.params_total_b * 1e9):.3g} bits per weight; a GGUF file has {low:g}-{high:g})"
            )
        return self


class Tier(BaseModel):
    description: str
    params_b: tuple[float, float]


class Catalog(BaseModel):
    tiers: dict[TierName, Tier]
    models: list[CatalogModel]

    def get(self, model_id: str) -> CatalogModel | None:
        return next((m for m in self.models if m.id == model_id.lower()), None)

    def standard_models(self, tier: str) -> list[CatalogModel]:
        return [m for m in self.models if m.tier == tier and m.standard]


def _bundled_catalog_text() -> str:
    packaged = resources.files("harness").joinpath("data/models.yaml")
    if packaged.is_file():
        return packaged.read_text()
    return (SOURCE_ROOT / "models.yaml").read_text()  # a source checkout


def load_catalog() -> Catalog:
    """The shipped catalogue plus the user's own $MEEK_HOME/models.yaml (same format; same id replaces). A user file that
    is not a mapping with a list of model entries, or an entry out of bounds, is one line naming the file and the entry."""
    data = _parse_yaml(_bundled_catalog_text(), "the shipped models.yaml")
    if not isinstance(data, dict):
        raise MeekError("the shipped models.yaml must be a mapping with 'models'")
    user_file = meek_home() / "models.yaml"
    if user_file.is_file():
        by_id = {m["id"]: m for m in data["models"]}
        by_id.update({m["id"]: m for m in _user_entries(user_file)})
        data["models"] = list(by_id.values())
    try:
        return Catalog.model_validate(data)
    except ValidationError as error:
        raise MeekError(f"model catalogue is invalid at {_first_error(error)}") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return one_line(f"{where}: {first['msg']}" if where else str(first["msg"]))


def _parse_yaml(text: str, label: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise MeekError(one_line(f"{label} is not valid YAML{at}: {problem}")) from None
    except RecursionError:
        raise MeekError(f"{label} is not valid YAML: nested too deeply") from None


def _what(value: object) -> str:
    """A value's kind, as an error names it."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else type(value).__name__


def _user_entries(path: Path) -> list[dict]:
    """The model entries of the user's models.yaml, each checked on its own: one line naming the file and the entry
    otherwise (an empty file has none)."""
    try:
        size = path.stat().st_size
        if size > MAX_USER_FILE_BYTES:
            raise MeekError(f"{path}: {size / 2**20:.1f} MiB, over the {MAX_USER_FILE_BYTES / 2**20:g} MiB a models file may be")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MeekError(one_line(f"{path}: cannot be read ({error})")) from None
    data = _parse_yaml(text, str(path))
    if data is None:
        return []
    if not isinstance(data, dict):
        raise MeekError(f"{path}: must be a mapping with a 'models' list of entries, not {_what(data)}")
    if unknown := [key for key in data if key not in ("models", "tiers")]:
        raise MeekError(one_line(f"{path}: unknown key {str(unknown[0])[:40]!r} (the file holds 'models': a list of entries)"))
    models = data.get("models") or []
    if not isinstance(models, list):
        raise MeekError(f"{path}: 'models' must be a list of entries, not {_what(models)}")
    for number, entry in enumerate(models, start=1):
        if not isinstance(entry, dict):
            raise MeekError(f"{path}: models entry {number} is {_what(entry)}, not a mapping of fields (id, name, ...)")
        if not isinstance(entry.get("id"), str):
            raise MeekError(f"{path}: models entry {number}: id must be text, not {_what(entry.get('id'))}")
        try:
            CatalogModel.model_validate(entry)
        except ValidationError as error:
            raise MeekError(f"{path}: model {entry['id'][:60]!r} (entry {number}) is invalid at {_first_error(error)}") from None
    return models


@dataclass
class ResolvedModel:
    """A model ready to load: its local file and, when it came from the catalogue, its entry."""

    spec: str
    path: Path
    entry: CatalogModel | None

    @property
    def label(self) -> str:
        return self.entry.id if self.entry else self.path.stem


def looks_like_path(spec: str) -> bool:
    return spec.endswith(".gguf") or "/" in spec or "\\" in spec or Path(spec).exists()


def resolve(spec: str, catalog: Catalog, verify_sha256: bool = True) -> ResolvedModel:
    """Turn a catalogue id or a path into a checked local GGUF file, fetching it when needed and possible."""
    entry = catalog.get(spec)
    if entry is None:
        if not looks_like_path(spec):
            raise UsageError(unknown_model_message(spec, catalog))
        path = Path(spec).expanduser()
    else:
        path = fetch(entry)
    read_gguf_facts(path)  # raises a clear error for a missing, non-GGUF or truncated file
    if entry and entry.sha256 and verify_sha256:
        actual = sha256_of(path)
        if actual != entry.sha256:
            raise MeekError(
                f"sha256 mismatch for {entry.id}: expected {entry.sha256[:12]}..., the file {path} has {actual[:12]}...; "
                "it is damaged or a different file: delete it and fetch it again"
            )
    return ResolvedModel(spec=spec, path=path, entry=entry)


def unknown_model_message(spec: str, catalog: Catalog) -> str:
    ids = [m.id for m in catalog.models]
    near = difflib.get_close_matches(spec.lower(), ids, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(near)}?" if near else " See `meek models list`, or pass a path to a .gguf file."
    return f"unknown model '{spec}'.{hint}"


def fetch(entry: CatalogModel) -> Path:
    """The local file for a catalogue entry: from its package, its assembler, the Hugging Face cache, or its path."""
    source = entry.source
    if source.package:
        return _package_file(entry, source)
    if source.hf_repo:
        return _hugging_face_file(entry, source)
    assert source.path is not None  # a source has exactly one of package, hf_repo or path (_one_kind)
    return Path(source.path).expanduser()


def _package_file(entry: CatalogModel, source: ModelSource) -> Path:
    package = source.package
    assert package is not None  # called for package sources only
    distribution = package.replace("_", "-")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MeekError(
            f"model {entry.id} comes with the package {distribution}, which is not installed: pip install {distribution}"
        )
    if not source.assemble:
        assert source.file is not None  # a package source without assemble names its file (_one_kind)
        return Path(list(spec.submodule_search_locations)[0]) / source.file
    module = importlib.import_module(package)
    target = _assembled_path(source)
    if target.is_file() and entry.sha256:
        return target  # assembled before; resolve() still checks its sha256 (cached by size and mtime)
    try:
        return Path(module.assemble(target))
    except (OSError, ValueError) as error:
        raise MeekError(
            f"could not assemble {entry.id} from {distribution}: {error}; reinstall it (pip install --force-reinstall {distribution})"
        ) from None


def _assembled_path(source: ModelSource) -> Path:
    """Where a package's assembled file is kept: $MEEK_HOME/models/<the package's file name>."""
    assert source.package is not None  # only a package is assembled
    return meek_home() / "models" / importlib.import_module(source.package).MODEL_NAME


def local_file(entry: CatalogModel) -> Path | None:
    """The model's file if it is already on this machine, without downloading or assembling anything."""
    source = entry.source
    try:
        if source.hf_repo:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source.hf_repo, _shard_names(source)[0], revision=source.revision)
            return Path(cached) if isinstance(cached, str) else None
        path = _assembled_path(source) if source.assemble else fetch(entry)
    except (MeekError, ImportError):
        return None
    return path if path.is_file() else None


def _shard_names(source: ModelSource) -> list[str]:
    hf_file = source.hf_file
    assert hf_file is not None  # an hf_repo source names its file (_one_kind)
    if source.hf_shards <= 1:
        return [hf_file]
    marker = f"-00001-of-{source.hf_shards:05d}"
    return [hf_file.replace(marker, f"-{i:05d}-of-{source.hf_shards:05d}") for i in range(1, source.hf_shards + 1)]


def hf_url(source: ModelSource, filename: str) -> str:
    return f"https://huggingface.co/{source.hf_repo}/resolve/{source.revision}/{filename}"


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when HF_HUB_OFFLINE is set or huggingface.co cannot be reached, so we fail fast instead of retrying."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _hugging_face_file(entry: CatalogModel, source: ModelSource) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    paths = []
    assert source.hf_repo is not None  # a Hugging Face source (the source validator requires both)
    for filename in _shard_names(source):
        try:
            paths.append(hf_hub_download(source.hf_repo, filename, revision=source.revision, local_files_only=True))
            continue
        except LocalEntryNotFoundError:
            pass
        how_to_fetch = (
            f"While online, run `hf download {source.hf_repo} {filename} --revision {source.revision}` "
            f"(or fetch {hf_url(source, filename)} and pass the file with -m)"
        )
        if not hub_reachable():
            raise MeekError(f"model {entry.id} is not downloaded and Hugging Face cannot be reached (offline). {how_to_fetch}")
        try:
            paths.append(hf_hub_download(source.hf_repo, filename, revision=source.revision))  # shows a progress bar
        except Exception as error:
            raise MeekError(
                f"model {entry.id} could not be downloaded ({type(error).__name__}: {error}). {how_to_fetch}"
            ) from None
    return Path(paths[0])
