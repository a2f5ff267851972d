"""Several users at once: 8 concurrent requests, all answered correctly, memory bounded."""

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from load_test import load_test  # noqa: E402


def test_eight_concurrent_requests(app_server):
    report = load_test(app_server.url, app_server.process.pid, n=8, rounds=3)
    assert report["all_ok"], report
    first, last = report["waves"][0]["rss_mb_after"], report["waves"][-1]["rss_mb_after"]
    assert last - first < 200, report  # no growth from wave to wave
    assert report["rss_mb_peak"] < 4000, report
    assert app_server.alive()
