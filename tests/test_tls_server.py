import certifi
import pytest
import requests


@pytest.mark.django_db(transaction=True)
def test_the_https_test_server_is_trusted_only_through_the_sandbox_ca(tls_live_server):
    trusted = requests.get(
        f"{tls_live_server.url}/healthz", verify=tls_live_server.ca_bundle, timeout=5
    )

    assert trusted.json()["status"] == "ok"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_live_server.url}/healthz", verify=certifi.where(), timeout=5)
