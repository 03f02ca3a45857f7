"""The meek-model figure (`meek plot meek-model`): the paper's loss-gap projection under the measured lag, on one time axis.

Top: data, the lag at release of each open model that set a new best for the machine class on the benchmark (the
frontier table's rows, of the kinds asked for), with its least-squares trend. Bottom: the model, dL(t) of
harness/frontier/meek_model.py from the start date. The figure says on its face which panel is which.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.frontier.gap import STEADY_MONTHS_PER_YEAR
from harness.frontier.meek_model import MeekModel
from harness.plots.style import EPOCH_CREDIT, source_line


def meek_model_figure(
    lags: pd.DataFrame,
    model: MeekModel,
    start: pd.Timestamp,
    years: float,
    benchmark: str,
    machine_class: str,
    kinds: tuple[str, ...],
) -> Figure:
    figure, (data_axes, model_axes) = plt.subplots(2, 1, figsize=(10, 8), sharex=True, layout="constrained")
    dates = pd.to_datetime(lags["release_date"])
    data_axes.scatter(dates, lags["lag_months"], color="C0", zorder=3, label="lag at release of a record-setting open model")
    for row in lags.itertuples():
        data_axes.annotate(
            str(row.model)[:24],
            (pd.Timestamp(row.release_date), row.lag_months),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=6,
            color="0.35",
        )
    trend = ""
    if len(lags) >= 2:
        x = (dates - dates.min()).dt.days.to_numpy(float) / 365.25
        slope, intercept = np.polyfit(x, lags["lag_months"].to_numpy(float), 1)
        data_axes.plot(
            dates.sort_values(),
            intercept + slope * np.sort(x),
            color="C0",
            linestyle="--",
            label=f"least-squares trend: {slope:+.1f} months of lag per year",
        )
        trend = "closing" if slope <= -STEADY_MONTHS_PER_YEAR else "widening" if slope >= STEADY_MONTHS_PER_YEAR else "steady"
    data_axes.set_ylabel("months behind the frontier\nat release")
    data_axes.set_title(
        f"DATA: {benchmark}, open models the {machine_class} class runs\n(scores of kind {', '.join(kinds)})"
        + (f"; the measured lag is {trend}" if trend else ""),
        fontsize=10,
    )
    data_axes.grid(True, alpha=0.3)
    data_axes.legend(fontsize=8, loc="upper right")
    data_axes.set_ylim(bottom=0)
    t = np.linspace(0, years, 400)
    when = start + pd.to_timedelta(t * 365.25, unit="D")
    model_axes.plot(when, model.gap(t), color="C3", label="loss gap dL(t), frontier vs fixed-budget actor")
    peak = start + pd.Timedelta(days=model.peak_years * 365.25)
    model_axes.axvline(peak, color="C3", linestyle=":", label=f"the model's peak, t* = {model.peak_years:.1f} years")
    model_axes.set_ylabel("loss gap, nats per token")
    model_axes.set_title(
        f"MODEL (not data): Gundlach et al. 2025, dL(t) from {start:%Y-%m}\nalpha {model.alpha}, A {model.a:g}, C0 {model.c0:.0e} "
        f"FLOP; growth per year {model.g_invest}x investment, {model.g_alg}x algorithms, {model.g_hw}x hardware",
        fontsize=9,
    )
    model_axes.grid(True, alpha=0.3)
    model_axes.legend(fontsize=8, loc="upper right")
    model_axes.set_ylim(bottom=0)
    figure.suptitle("Is the measured gap closing the way the meek-models paper predicts?", fontsize=12)
    source_line(
        figure,
        EPOCH_CREDIT + " and developers' pages (data)",
        "model: arXiv:2507.07931; parameters marked [S] in shared/data/meek_models_paper.md come from secondary summaries",
    )
    return figure
