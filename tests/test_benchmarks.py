"""The benchmark's pandas baseline computes the same headline numbers as analytics.metrics, so
the speed comparison in benchmarks/RESULTS.md is between two correct implementations. No timing
here: speed lives in benchmarks/."""
import datetime as dt

import pandas as pd
import pytest

from analytics import db, visit_log
from analytics.filters import Filter
from benchmarks import chain, measure, pandas_baseline
from benchmarks.steps import FILTERED, importable_visit_log


@pytest.fixture(scope="module")
def generated_clinic(tmp_path_factory):
    """A generated clinic of about 5,000 sessions, imported with full validation."""
    rows, _, _ = importable_visit_log(sessions=5000, seed=11)
    con = db.connect(tmp_path_factory.mktemp("bench") / "clinic.duckdb")
    visit_log.import_frames(con, [("generated", rows)])
    yield con, {"base tables": pandas_baseline.read_tables(con), "session_facts": pandas_baseline.read_session_facts(con)}
    con.close()


@pytest.mark.parametrize("source", ["base tables", "session_facts"])
@pytest.mark.parametrize("f", [Filter(), Filter(course_types=("acute",)), Filter(conditions=("bunion", "heel_spur")),
                               Filter(severities=("severe",), course_types=("chronic",)),
                               Filter(start=dt.date(2025, 3, 1), end=dt.date(2025, 8, 31))], ids=repr)
@pytest.mark.parametrize("metric", list(pandas_baseline.HEADLINE))
def test_pandas_baseline_gives_our_numbers(generated_clinic, metric, f, source):
    con, read = generated_clinic
    ours, theirs = pandas_baseline.HEADLINE[metric]
    assert pandas_baseline.differences(ours(con, f), theirs(read[source], f), metric) == []


def test_the_timed_calls_are_the_therapists_pages_calls(generated_clinic):
    """The metric step times what the Therapists page calls: therapist_outcome for every measure
    of its "Judged on" choice, and no function that no page calls any more."""
    from analytics import metrics
    from benchmarks.steps import analytics_calls

    con, _ = generated_clinic
    calls = {call.name: call for call in analytics_calls(con)}
    measures = [name for name in metrics.THERAPIST_OUTCOMES if name != metrics.PRIMARY_OUTCOME]
    assert {"therapist_outcome", *(f"therapist_outcome[outcome={name}]" for name in measures)} <= set(calls)
    assert not {"therapist_comparison", "funnel_limits"} & set(calls)
    for name in measures:
        call = calls[f"therapist_outcome[outcome={name}]"]
        expected = metrics.therapist_outcome(con, Filter(**FILTERED), outcome=name).therapists
        # Alike, not identical: DuckDB's parallel float sums may differ in their last bits.
        pd.testing.assert_frame_equal(call.run(con, Filter(**FILTERED)).therapists, expected, check_exact=False, rtol=1e-9)


def test_a_difference_is_reported_with_where_it_is():
    # responder rate 0.75 against 0.75 + 2e-9: beyond the 1e-9 allowed
    found = pandas_baseline.differences({"acute": {"rate": 0.75}}, {"acute": {"rate": 0.75 + 2e-9}}, "summary")
    assert found == ["summary['acute']['rate']: ours 0.75 != pandas 0.750000002"]


def test_points_are_counted_per_trace_including_typed_arrays():
    # 3 points as a list + 4 float64 values as Plotly's base64 typed array (32 bytes) = 7
    spec = {"data": [{"x": [1, 2, 3], "y": [4, 5, 6]},
                     {"y": {"dtype": "f8", "bdata": "AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAhAAAAAAAAAEEA="}}]}
    assert measure.figure_points(spec) == 7


def test_the_chain_section_judges_each_target_from_the_figures():
    """benchmarks/chain.py's section of RESULTS.md: a ratio within 1.5× is met, one over is missed."""
    from benchmarks import chain

    write = {"median_ms": 10.0, "peak_rss_mb": 200.0, "cli_peak_rss_mb": 210.0, "load_average": [1.0, 1.0, 1.0]}
    results = {"chain": {"writes": {"20k": {kind: write for kind in chain.WRITE_KINDS},
                                    "1m": {kind: {**write, "median_ms": 12.0 if kind != "record" else 40.0}
                                           for kind in chain.WRITE_KINDS}}}}
    results["chain"]["writes"]["1m"]["correct"]["cpu_ms"] = 9.0   # CPU beside the wall clock when measured
    results["chain"]["writes"]["20k"]["correct"] = {**write, "cpu_ms": 6.0}
    text = chain.render(results)
    assert "| record | 10.0 |  | 200 | 40.0 |  | 200 | 4.00× |  | 1.00× |" in text
    assert "| correct | 10.0 | 6.0 | 200 | 12.0 | 9.0 | 200 | 1.20× | 1.50× | 1.00× |" in text
    assert f"| {chain.TARGETS['write_ratio']} | worst 4.00× time, 1.00× memory | ❌ **missed** |" in text
    results["chain"]["writes"]["1m"]["record"] = {**write, "median_ms": 14.0}
    assert f"| {chain.TARGETS['write_ratio']} | worst 1.40× time, 1.00× memory | ✅ met |" in chain.render(results)


@pytest.mark.parametrize("link", list(chain.PAGES))
def test_the_browser_step_waits_for_every_chart_of_its_pages(writable_sample_db, monkeypatch, link):
    """The browser step times a page until its heading and that many charts are drawn: the
    counts are the pages' own (on the sample, which has every kind of data a generated clinic has)."""
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT, signed_in

    monkeypatch.setenv("CLINIC_DB", str(writable_sample_db))  # a copy: pages run in this process hold their file open
    heading, charts = chain.PAGES[link]
    files = {"Overview": "overview", "Courses": "courses", "Conditions": "conditions", "Therapists": "therapists",
             "Home program": "home_program", "Data quality": "data_quality"}
    at = signed_in(AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120))
    at.run()
    at.switch_page(f"app_pages/{files[link]}.py").run()
    assert not at.exception
    assert at.title[0].value == heading
    assert len(at.get("plotly_chart")) == charts


def test_the_chain_section_judges_the_10m_record_and_memory_targets():
    from benchmarks import chain

    results = {"chain": {"record_10m": {"median_ms": 100.0, "cpu_ms": 130.0, "peak_rss_mb": 480.0},
                         "browser_10m": {"server_after_session": {"rss_mb": 750.0, "peak_mb": 1250.0},
                                         "sign_in_to_overview_ms": 1800.0, "warm_ms": {"Overview": 470.0}}}}
    text = chain.render(results)
    assert f"| {chain.TARGETS['record_10m']} | 100 ms | ✅ met |" in text
    assert f"| {chain.TARGETS['memory_10m']} | peak 1,250 MB | ❌ **missed** |" in text
    results["chain"]["browser_10m"]["server_after_session"]["peak_mb"] = 974.0
    results["chain"]["record_10m"]["median_ms"] = 310.0
    text = chain.render(results)
    assert f"| {chain.TARGETS['memory_10m']} | peak 974 MB | ✅ met |" in text
    assert f"| {chain.TARGETS['record_10m']} | 310 ms | ❌ **missed** |" in text
