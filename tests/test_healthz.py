"""/healthz as a load balancer sees it: 200 when the database, the Celery broker and the
cache answer; 503 naming the part that does not, with nothing private in the answer."""

import socket

import pytest


def _closed_port() -> int:
    # A port that was free a moment ago and has nobody listening.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_all_parts_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "cache"}
    assert all(value.startswith("ok") for value in body["checks"].values())
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_is_named_with_503(client, settings):
    port = _closed_port()
    settings.CELERY_BROKER_URL = f"redis://:secret-password@127.0.0.1:{port}/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["database"].startswith("ok")
    assert body["checks"]["broker"].startswith("failing")
    # Public page: the broker's address and credentials are not in the answer.
    assert "secret-password" not in response.content.decode()
    assert str(port) not in response.content.decode()


@pytest.mark.django_db
def test_a_cache_that_does_not_answer_is_named_with_503(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]
