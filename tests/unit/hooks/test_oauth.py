"""Token requests for each OAuth flow, built from an Airflow connection; secrets stay out of reprs."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import jwt
import pytest
from airflow.sdk import Connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from salesforce_elt.hooks.errors import SalesforceAuthError
from salesforce_elt.hooks.oauth import AuthSettings, parse_token_response, token_request

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


def test_client_credentials_uses_basic_auth(tmp_path):
    settings = AuthSettings.from_connection(connection(tmp_path, auth_flow="client_credentials"))
    assert settings.login_url == "https://127.0.0.1:8443" and settings.version == "60.0"
    request = token_request(settings)
    assert request.url == "https://127.0.0.1:8443/services/oauth2/token"
    assert request.data == {"grant_type": "client_credentials"}
    assert (
        base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode()
        == f"KEY123:{SECRET}"
    )


def test_password_flow_appends_security_token(tmp_path):
    request = token_request(AuthSettings.from_connection(connection(tmp_path, auth_flow="password")))
    assert request.data["grant_type"] == "password"
    assert request.data["password"] == PASSWORD + "TOKEN9"
    assert request.data["client_id"] == "KEY123" and request.data["username"] == "etl@example.com"


def test_jwt_flow_signs_rs256_claims(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    settings = AuthSettings.from_connection(
        connection(tmp_path, auth_flow="jwt", private_key_file_path=str(key_file))
    )
    request = token_request(settings)
    assert request.data["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        request.data["assertion"], key.public_key(), algorithms=["RS256"], audience="https://127.0.0.1:8443"
    )
    assert claims["iss"] == "KEY123" and claims["sub"] == "etl@example.com"
    assert 0 < claims["exp"] - __import__("time").time() <= 180


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
