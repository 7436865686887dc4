"""Token requests for each OAuth flow, built from an Airflow connection; secrets stay out of reprs."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import jwt
import pytest
from airflow.sdk import Connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from salesforce_elt.airflow.hooks.errors import SalesforceAuthError
from salesforce_elt.airflow.hooks.oauth import (
    PRODUCTION_AUDIENCE,
    SANDBOX_AUDIENCE,
    AuthSettings,
    audience_for_login_url,
    client_credentials_on_generic_host,
    parse_token_response,
    token_request,
)

SECRET = "s3cr3t-consumer-secret"
PASSWORD = "p4ssw0rd-value"


def connection(tmp_path, **extra) -> Connection:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used by these tests")
    base = {
        "login_url": "https://127.0.0.1:8443/",
        "consumer_key": "KEY123",
        "consumer_secret": SECRET,
        "security_token": "TOKEN9",
        "ca_bundle": str(ca),
        "version": "60.0",
    }
    base.update(extra)
    return Connection(
        conn_id="salesforce_test",
        conn_type="salesforce",
        login="etl@example.com",
        password=PASSWORD,
        extra=json.dumps(base),
    )


def test_no_login_url_means_provider_behaviour(tmp_path):
    conn = Connection(conn_id="sf", conn_type="salesforce", extra=json.dumps({"domain": "test"}))
    assert AuthSettings.from_connection(conn) is None


def test_client_credentials_go_in_the_form_body(tmp_path):
    # The documented form: client_id and client_secret in the body, no HTTP Basic header.
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow="client_credentials"))
    assert settings.login_url == "https://127.0.0.1:8443" and settings.version == "60.0"
    request = token_request(settings)
    assert request.url == "https://127.0.0.1:8443/services/oauth2/token"
    assert request.data == {
        "grant_type": "client_credentials",
        "client_id": "KEY123",
        "client_secret": SECRET,
    }
    assert "Authorization" not in request.headers


def test_password_flow_appends_security_token(tmp_path):
    request = token_request(AuthSettings.from_connection(connection(tmp_path, auth_flow="password")))
    assert request.data["grant_type"] == "password"
    assert request.data["password"] == PASSWORD + "TOKEN9"
    assert request.data["client_id"] == "KEY123" and request.data["username"] == "etl@example.com"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwt_claims(tmp_path, rsa_key, **extra) -> dict:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    settings = AuthSettings.from_connection(
        connection(tmp_path, auth_flow="jwt", private_key_file_path=str(key_file), **extra)
    )
    request = token_request(settings)
    assert request.data["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert request.url == settings.login_url + "/services/oauth2/token"  # posted to the login URL ...
    # ... whatever audience it names (checked by the callers).
    return jwt.decode(
        request.data["assertion"],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience=None,
        options={"verify_aud": False},
    )


def test_jwt_flow_signs_rs256_claims_for_the_production_audience(tmp_path, rsa_key):
    claims = _jwt_claims(tmp_path, rsa_key)
    # Not the URL the assertion is posted to: Salesforce's production authorization server.
    assert claims["aud"] == "https://login.salesforce.com"
    assert claims["iss"] == "KEY123" and claims["sub"] == "etl@example.com"
    assert 0 < claims["exp"] - time.time() <= 180


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", PRODUCTION_AUDIENCE),
        ("https://acme.my.salesforce.com/", PRODUCTION_AUDIENCE),
        ("https://127.0.0.1:8443", PRODUCTION_AUDIENCE),
        ("https://acme.lightning.force.com", PRODUCTION_AUDIENCE),
        ("https://test.salesforce.com", SANDBOX_AUDIENCE),
        ("https://TEST.salesforce.com/", SANDBOX_AUDIENCE),
        ("https://acme--uat.sandbox.my.salesforce.com", SANDBOX_AUDIENCE),
        ("https://acme--uat.cs42.my.salesforce.com", SANDBOX_AUDIENCE),
        ("https://cs42.salesforce.com", SANDBOX_AUDIENCE),
        ("https://usa2s.sfdc-abc123.salesforce.com", SANDBOX_AUDIENCE),
        # Look-alikes are not sandboxes.
        ("https://test.salesforce.com.example.net", PRODUCTION_AUDIENCE),
        ("https://sandbox.my.salesforce.com.example.net", PRODUCTION_AUDIENCE),
        ("https://mytest.salesforce.com", PRODUCTION_AUDIENCE),
    ],
)
def test_jwt_audience_follows_the_login_host(login_url, audience):
    assert audience_for_login_url(login_url) == audience


def test_sandbox_login_url_gives_the_sandbox_audience(tmp_path, rsa_key):
    claims = _jwt_claims(tmp_path, rsa_key, login_url="https://acme--uat.sandbox.my.salesforce.com")
    assert claims["aud"] == "https://test.salesforce.com"


def test_jwt_audience_extra_overrides_the_derivation(tmp_path, rsa_key):
    site = "https://acme.my.site.com/customers"
    assert _jwt_claims(tmp_path, rsa_key, jwt_audience=site + "/")["aud"] == site
    assert _jwt_claims(tmp_path, rsa_key, jwt_audience=SANDBOX_AUDIENCE)["aud"] == SANDBOX_AUDIENCE


@pytest.mark.parametrize("value", ["test.salesforce.com", "http://test.salesforce.com", "https://"])
def test_a_jwt_audience_that_is_no_https_url_is_named(tmp_path, value):
    with pytest.raises(
        SalesforceAuthError, match=r"connection 'salesforce_test': extra jwt_audience=.*https://"
    ):
        AuthSettings.from_connection(connection(tmp_path, auth_flow="jwt", jwt_audience=value))


def test_a_refused_audience_says_which_audience_was_sent(tmp_path):
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow="jwt", private_key="---"))
    body = json.dumps({"error": "invalid_grant", "error_description": "audience is invalid"})
    with pytest.raises(
        SalesforceAuthError,
        match="aud was https://login.salesforce.com: set the connection's "
        "jwt_audience extra to https://test.salesforce.com for a sandbox",
    ):
        parse_token_response(400, body, settings)


@pytest.mark.parametrize(
    ("login_url", "flow", "generic"),
    [
        ("https://login.salesforce.com", "client_credentials", True),
        ("https://test.salesforce.com/", "client_credentials", True),
        ("https://acme.my.salesforce.com", "client_credentials", False),
        ("https://login.salesforce.com", "jwt", False),
    ],
)
def test_client_credentials_on_a_generic_login_host_is_recognised(tmp_path, login_url, flow, generic):
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow=flow, login_url=login_url))
    assert client_credentials_on_generic_host(settings) is generic


def test_refusal_on_a_generic_login_host_names_the_fix(tmp_path):
    settings = AuthSettings.from_connection(
        connection(tmp_path, auth_flow="client_credentials", login_url="https://login.salesforce.com")
    )
    body = json.dumps({"error": "invalid_grant", "error_description": "request not supported on this domain"})
    with pytest.raises(SalesforceAuthError) as err:
        parse_token_response(400, body, settings)
    assert "request not supported on this domain" in str(err.value)
    assert "set login_url to https://<MyDomainName>.my.salesforce.com" in str(err.value)
    assert SECRET not in str(err.value)


def test_flow_is_inferred_when_not_set(tmp_path):
    assert AuthSettings.from_connection(connection(tmp_path, private_key="---")).flow == "jwt"
    assert AuthSettings.from_connection(connection(tmp_path)).flow == "password"


def test_unknown_flow_and_missing_ca_file_are_named(tmp_path):
    with pytest.raises(SalesforceAuthError, match="auth_flow='saml'"):
        AuthSettings.from_connection(connection(tmp_path, auth_flow="saml"))
    with pytest.raises(SalesforceAuthError, match="ca_bundle file '/nonexistent/ca.pem' does not exist"):
        AuthSettings.from_connection(connection(tmp_path, ca_bundle="/nonexistent/ca.pem"))


def test_missing_secret_is_named(tmp_path):
    settings = AuthSettings.from_connection(
        connection(tmp_path, auth_flow="client_credentials", consumer_secret="")
    )
    with pytest.raises(SalesforceAuthError, match="consumer_secret"):
        token_request(settings)


def test_secrets_never_appear_in_reprs(tmp_path):
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow="password"))
    request = token_request(settings)
    token = parse_token_response(
        200, json.dumps({"access_token": "00Dxx!SECRETTOKEN", "instance_url": "https://i.example/"}), settings
    )
    text = repr(settings) + repr(request) + repr(token)
    for secret in (SECRET, PASSWORD, "TOKEN9", "SECRETTOKEN"):
        assert secret not in text
    assert token.instance_url == "https://i.example"


def test_refused_login_raises_code_and_description_only(tmp_path):
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow="password"))
    body = json.dumps({"error": "invalid_grant", "error_description": "authentication failure"})
    with pytest.raises(SalesforceAuthError) as err:
        parse_token_response(400, body, settings)
    assert err.value.error_code == "invalid_grant"
    assert "authentication failure" in str(err.value)
    assert PASSWORD not in str(err.value) and SECRET not in str(err.value)


def test_form_body_is_plain_urlencoded(tmp_path):
    from urllib.parse import urlencode

    request = token_request(AuthSettings.from_connection(connection(tmp_path, auth_flow="password")))
    assert parse_qs(urlencode(request.data))["grant_type"] == ["password"]
