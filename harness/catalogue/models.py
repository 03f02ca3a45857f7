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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.catalogue.gguf_file import read_gguf_facts, sha256_of
from harness.errors import MeekError, UsageError
from harness.home import SOURCE_ROOT, meek_home

DEFAULT_MODEL = "smollm2-135m"
TierName = Literal["tiny", "small", "medium", "large", "xl"]
TIERS: tuple[str, ...] = typing.get_args(TierName)


class ModelSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str | None = None
    file: str | None = None
    assemble: bool = False
    hf_repo: str | None = None
    hf_file: str | None = None
    revision: str = "main"
    hf_shards: int = 1
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
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    heads: int = Field(gt=0)
    embedding: int = Field(gt=0)
    vocab: int = Field(gt=0)
    sliding_window: int = Field(default=0, ge=0)
    swa_layers: int = Field(default=0, ge=0)


class CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    family: str
    tier: TierName
    params_total_b: float = Field(gt=0)
    params_active_b: float = Field(gt=0)
    moe: bool = False
    quant: str
    file_size_bytes: int | None = None
    file_size_approx_gb: float | None = None
    size_recorded_at_revision: str | None = None
    release_date: dt.date
    license: str
    context_length: int = Field(gt=0)
    context_length_extended: int | None = None
    instruct: bool = False
    shape: ModelShape | None = None  # for the memory model; without it the KV cache is estimated from the parameters
    source: ModelSource
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    standard: bool = False
    info_url: str | None = None
    sources: list[str] = []
    evidence: list[str] = []


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
    """The shipped catalogue plus the user's own $MEEK_HOME/models.yaml (same format; same id replaces)."""
    data = _parse_yaml(_bundled_catalog_text(), "the shipped models.yaml")
    user_file = meek_home() / "models.yaml"
    if user_file.is_file():
        user = _parse_yaml(user_file.read_text(), str(user_file))
        by_id = {m["id"]: m for m in data["models"]}
        by_id.update({m["id"]: m for m in user.get("models", [])})
        data["models"] = list(by_id.values())
    try:
        return Catalog.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MeekError(f"model catalogue is invalid at {where}: {first['msg']}") from None


def _parse_yaml(text: str, label: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MeekError(f"{label} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise MeekError(f"{label} must be a mapping with 'models'")
    return data


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
