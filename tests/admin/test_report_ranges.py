"""Report ranges are bounded (finding 7): a 200-year daily summary is a 400 naming the limit, not 73k rows."""

from __future__ import annotations

from datetime import date, timedelta

from plugin import dashboard
from tests.admin.conftest import JANUARY


def _summary(reported, client, **query):
    return reported.api(client, "/api/v1/summary?" + "&".join(f"{k}={v}" for k, v in query.items()))


def test_a_huge_daily_range_is_refused_with_the_limit(reported, client):
    response = _summary(reported, client, bucket="day", since="1900-01-01", until="2100-01-01")
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert str(dashboard.MAX_BUCKETS) in message and "week or month" in message


def test_the_limit_is_a_count_of_buckets_at_its_boundary(reported, client):
    since = date(2024, 1, 1)
    at_limit = since + timedelta(days=dashboard.MAX_BUCKETS - 1)
    ok = _summary(reported, client, bucket="day", since=since, until=at_limit)
    assert ok.status_code == 200 and len(ok.get_json()["over_time"]) <= dashboard.MAX_BUCKETS
    over = _summary(reported, client, bucket="day", since=since, until=at_limit + timedelta(days=1))
    assert over.status_code == 400
    assert _summary(reported, client, bucket="month", since="1990-01-01", until="2060-01-01").status_code == 200


def test_the_dashboard_says_so_and_shows_the_default_period(signed_in, reported):
    response = signed_in.get("/admin/?bucket=day&since=1900-01-01&until=2100-01-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and f"more than the {dashboard.MAX_BUCKETS}" in html
    assert len(html) < 2_000_000
    assert signed_in.get("/admin/?since={since}&until={until}".format(**JANUARY)).status_code == 200
