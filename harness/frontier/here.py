"""What runs on this machine at a usable speed: the one selection behind `meek gap --machine this` (its best model and
its lag at release) and this machine's card (`meek gap --machine this`, `meek plot card`), so the two never disagree.

A model runs here at X t/s when it fits this machine's memory (the one memory model, harness/memory_fit.py and memory_budget.py) and its
generation speed, llama-bench's tg128 at depth 0, is X or more: measured on this machine where it ran the model, else
the record's canonical figure for this machine's device (measured, converted or predicted, harness/aggregate/advise.py),
and outside the hardware table a prediction from this machine's own memory and its bandwidth measured by a copy test.
A frontier-table model that is a catalogue model is taken as the catalogue's file; any other at Q4_K_M, its speed
predicted the same way from its parameters (the active ones for a mixture of experts). Every speed names its kind.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from harness import memory_budget, memory_fit
from harness.catalogue.models import CatalogModel, load_catalog
from harness.frontier.gap import MachineClass, best_open_that_fits

if TYPE_CHECKING:
    from harness.results.schema import Machine

THIS_MACHINE = "this-machine"  # its name among the machine classes
STAND_IN_QUANT = "Q4_K_M"  # a frontier-table model outside the catalogue is taken at the quant people run most


def model_key(text: object) -> str:
    """A model name as a key: lower case, letters and digits only ('Gemma 3 4B IT' and 'gemma-3-4b-it' meet)."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def catalogue_keys(model: CatalogModel) -> set[str]:
    """The keys a frontier-table row names a catalogue model by: its name, or its card's repository."""
    return {model_key(model.name)} | ({model_key(model.info_url.rstrip("/").rsplit("/", 1)[-1])} if model.info_url else set())


@dataclass(frozen=True)
class Speed:
    """A generation speed (tg128 at depth 0, t/s) and its kind, with the basis of a prediction."""

    tg: float
    kind: str


def stand_in(name: str, params_total_b: float, params_active_b: float | None) -> CatalogModel:
    """A frontier-table model outside the catalogue as the memory model and the predictor read one: its parameters at
    Q4_K_M, no file (not validated: it has no source to fetch)."""
    active = params_active_b if params_active_b is not None and 0 < params_active_b < params_total_b else params_total_b
    return CatalogModel.model_construct(
        id=f"table:{name}",
        name=name,
        params_total_b=params_total_b,
        params_active_b=active,
        moe=active < params_total_b,
        quant=STAND_IN_QUANT,
        file_size_bytes=None,
        file_size_approx_gb=None,
        shape=None,
        info_url=None,
    )


class RunsHere:
    """Which models run on one machine at `min_tg` t/s or more, and how fast each runs, with its kind."""

    def __init__(self, facts: Machine, runs: pd.DataFrame, min_tg: float, models: list[CatalogModel] | None = None):
        from harness.aggregate.advise import Record, this_machine_device

        self.facts, self.min_tg = facts, min_tg
        self.models = models if models is not None else load_catalog().models
        self.here = this_machine_device(facts)
        self.memory = self.here.memory or memory_budget.this_machine(facts)  # its own, outside the table
        self.note = self.memory.note
        self.record = Record(runs, models=self.models)
        self._by_key = {key: model for model in self.models for key in catalogue_keys(model)}
        mine = (
            runs[(runs["machine_id"] == facts.machine_id) & (runs["test"] == "tg128") & (runs["n_depth"] == 0)]
            if len(runs)
            else runs
        )
        self._measured = mine.groupby("model")["median_ts"].median().to_dict() if len(mine) else {}
        self._speeds: dict[str, Speed | None] = {}

    @property
    def basis(self) -> str:
        """What the predictions rest on: the hardware table's device, or this machine's measured bandwidth."""
        return self.here.basis

    def catalogue_model(self, name: object) -> CatalogModel | None:
        return self._by_key.get(model_key(name))

    def model_of(self, name: str, params_total_b: float, params_active_b: float | None = None) -> CatalogModel:
        """The catalogue model a frontier-table row names, else its stand-in at Q4_K_M."""
        return self.catalogue_model(name) or stand_in(name, params_total_b, params_active_b)

    def fits(self, model: CatalogModel) -> bool:
        need = memory_fit.model_need(model).total
        return memory_budget.fits(need, self.memory.kind, self.memory.memory_bytes, self.memory.vendor)

    def speed(self, model: CatalogModel) -> Speed:
        """Its tg128 here: measured on this machine, else the record's figure for this machine's device (said which)."""
        if model.id in self._measured:
            return Speed(float(self._measured[model.id]), "measured here (tg128)")
        device = self.here.device
        found = self.record.answer(device, model)
        assert found is not None  # tg always has an answer
        if self.here.measured:  # predicted from this machine's measured bandwidth: said first, then the basis in full
            from harness.machine.bandwidth import LABEL

            kind = (
                f"{found.kind} (tg128, {found.runtime}) from this machine's {device.bandwidth_gbs:.1f} GB/s {LABEL}: "
                f"{found.basis.removeprefix('predicted: ')}; {self.basis}"
            )
        else:
            kind = f"{found.kind} for {device.id} (tg128, {found.runtime})"
        if model.id.startswith("table:"):
            kind += f"; not a catalogue model: taken at {STAND_IN_QUANT}"
        return Speed(found.value, kind)

    def runs(self, model: CatalogModel) -> Speed | None:
        """Its speed when it fits here and reaches min_tg; None otherwise. The one rule `meek gap --machine this` and
        the card both ask."""
        if model.id not in self._speeds:
            speed = self.speed(model) if self.fits(model) else None
            self._speeds[model.id] = speed if speed is not None and speed.tg >= self.min_tg else None
        return self._speeds[model.id]

    def runs_row(self, row: pd.Series | dict) -> Speed | None:
        """`runs` for a frontier-table row (model, params_total_b, params_active_b)."""
        total = row.get("params_total_b")
        if total is None or (isinstance(total, float) and math.isnan(total)) or not total > 0:
            model = self.catalogue_model(row.get("model"))
            return self.runs(model) if model is not None else None
        active = row.get("params_active_b")
        active = None if active is None or (isinstance(active, float) and math.isnan(active)) else float(active)
        return self.runs(self.model_of(str(row.get("model")), float(total), active))

    def select(self, rows: pd.DataFrame) -> pd.Series:
        """True for the frontier-table rows whose model runs here at min_tg or more (a MachineClass's selector)."""
        return pd.Series([self.runs_row(row) is not None for row in rows.to_dict("records")], index=rows.index, dtype=bool)

    def machine_class(self) -> MachineClass:
        """This machine as a gap class whose selector is `select`: what `meek gap --machine this` ranks."""
        memory = self.memory
        note = f"{self.note}; a model counts when it runs here at {self.min_tg:g} t/s or more (tg128)"
        return MachineClass(memory.memory_bytes / memory_fit.GIB, memory.kind, note, vendor=memory.vendor, selector=self.select)

    def best(self, frame: pd.DataFrame, benchmark: str, on_date: object) -> tuple[pd.Series, Speed] | None:
        """The best-scoring open model released by `on_date` that runs here at min_tg or more, and its speed: the row
        `meek gap --machine this` names and the card shows."""
        found = best_open_that_fits(frame, benchmark, THIS_MACHINE, on_date, classes={THIS_MACHINE: self.machine_class()})
        if found is None:
            return None
        speed = self.runs_row(found)
        assert speed is not None  # the selector chose it
        return found, speed

    def fastest_that_fits(self, frame: pd.DataFrame, benchmark: str) -> tuple[str, Speed] | None:
        """Among the open models with a score on the benchmark that fit here, the fastest (to say why none reaches
        min_tg)."""
        rows = frame[(frame["benchmark"] == benchmark) & frame["open_weights"].fillna(False).astype(bool)]
        rows = rows.dropna(subset=["params_total_b"]).drop_duplicates("model")
        found = []
        for row in rows.to_dict("records"):
            active = row.get("params_active_b")
            model = self.model_of(str(row["model"]), float(row["params_total_b"]), None if pd.isna(active) else float(active))
            if self.fits(model):
                found.append((str(row["model"]), self.speed(model)))
        return max(found, key=lambda pair: pair[1].tg) if found else None
