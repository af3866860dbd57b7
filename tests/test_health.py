"""/healthz and /readyz."""

from __future__ import annotations

from plugin import create_app
from tests.support.servers import free_port


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok"}


def test_readyz_checks_redis_when_configured(app_config, redis_url):
    app = create_app({**app_config, "REDIS_URL": redis_url})
    assert app.test_client().get("/readyz").get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_down(app_config):
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("error")
