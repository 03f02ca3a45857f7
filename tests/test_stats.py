import statistics

from harness.results.stats import instability_reasons, summarize


def test_summary_follows_from_samples():
    samples_ns = [1_000_000_000, 2_000_000_000, 1_000_000_000]
    summary = summarize(100, samples_ns)
    assert summary["samples_ts"] == [100.0, 50.0, 100.0]
    assert summary["avg_ts"] == statistics.fmean([100.0, 50.0, 100.0])
    assert summary["median_ts"] == 100.0
    assert summary["stddev_ts"] == statistics.stdev([100.0, 50.0, 100.0])
    assert summary["avg_ns"] == 4_000_000_000 / 3
    assert summary["min_ts"] == 50.0 and summary["max_ts"] == 100.0


def test_stable_samples_are_not_flagged():
    assert instability_reasons([100.0, 101.0, 99.5, 100.4]) == []


def test_spread_and_outliers_are_flagged():
    reasons = instability_reasons([100.0, 100.0, 100.0, 60.0])
    assert any("stddev" in r for r in reasons)
    assert any("from the median" in r for r in reasons)


def test_single_sample_has_no_known_spread():
    assert instability_reasons([10.0]) == ["only one sample: no spread known"]


def test_percentiles_never_leave_the_samples():
    """The one percentile: inclusive interpolation, so p90 of 100..140 is 136, not 144 (statistics.quantiles' exclusive
    method gave a value above the largest sample); p0 and p100 are the extremes."""
    from harness.results.stats import percentile, percentiles

    samples = [100, 110, 120, 130, 140]
    assert percentile(samples, 90) == 136
    assert percentiles(samples, [0, 50, 100]) == [100, 120, 140]
    assert percentile([7], 99) == 7
    for q in (1, 10, 50, 90, 99):
        assert min(samples) <= percentile(samples, q) <= max(samples)
