"""OAuth flows, SOAP login, sessions and the connection file, over real HTTPS."""

from __future__ import annotations

import json
import re
import time
import xml.dom.minidom
from pathlib import Path

import jwt
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)
from simple_salesforce.login import SalesforceLogin

from salesforce_emulator.client import client_credentials_token

pytest_plugins = ["salesforce_emulator.pytest_plugin"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"


def _token_request(sf_emulator, sf_session, data, auth=None):
    return sf_session.post(f"{sf_emulator.connection_info['login_url']}/services/oauth2/token", data=data, auth=auth)


def _client_credentials(info, **overrides):
    return {"grant_type": "client_credentials", "client_id": info["client_id"],
            "client_secret": info["client_secret"], **overrides}


def _assertion(info, *, aud=PRODUCTION, iss=None, sub=None, exp_delta=180, key_file=None):
    claims = {
        "iss": iss or info["client_id"],
        "sub": sub or info["username"],
        "aud": aud,
        "exp": int(time.time()) + exp_delta,
    }
    return jwt.encode(claims, Path(key_file or info["jwt_private_key_file"]).read_bytes(), algorithm="RS256")


def test_connection_file_matches_server_and_points_at_real_files(sf_emulator):
    info = sf_emulator.connection_info
    on_disk = json.loads((sf_emulator.data_dir / "connection.json").read_text())
    assert on_disk == info
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", info["instance_url"])
    assert info["login_url"] == info["instance_url"]
    for key in ("ca_file", "jwt_private_key_file", "jwt_cert_file"):
        assert Path(info[key]).is_absolute() and Path(info[key]).is_file()
    assert len(info["security_token"]) == 24 and info["client_id"].startswith("3MVG9")
    assert info["org_kind"] == "production"


def test_client_credentials_in_the_body_return_salesforce_shape(sf_emulator, sf_session):
    info = sf_emulator.connection_info
    response = _token_request(sf_emulator, sf_session, _client_credentials(info))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["instance_url"] == info["instance_url"] and not body["instance_url"].endswith("/")
    assert re.fullmatch(r"00D\w{15}!AR[\w.]+", body["access_token"])
    assert body["token_type"] == "Bearer" and body["issued_at"].isdigit()
    assert re.fullmatch(re.escape(info["instance_url"]) + r"/id/00D\w{15}/005\w{15}", body["id"])


def test_token_requests_do_not_count(sf_emulator, sf_session):
    used_before = sf_emulator.api_counter.used
    response = _token_request(sf_emulator, sf_session, _client_credentials(sf_emulator.connection_info))
    assert response.status_code == 200
    assert "Sforce-Limit-Info" not in response.headers
    assert sf_emulator.api_counter.used == used_before


def test_client_credentials_only_in_a_basic_header_are_refused(sf_emulator, sf_session):
    # Salesforce documents the flow with client_id/client_secret in the form body; public evidence
    # does not settle whether HTTP Basic is honoured too, so the emulator does not honour it.
    info = sf_emulator.connection_info
    response = _token_request(sf_emulator, sf_session, {"grant_type": "client_credentials"},
                              auth=(info["client_id"], info["client_secret"]))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "3MVG9nope", "client_secret": "x"}, "invalid_client_id"),
        ({"client_secret": "wrong-secret"}, "invalid_client"),
        ({"client_secret": ""}, "invalid_client"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        (None, "unsupported_grant_type"),
    ],
)
def test_oauth_failures_are_400_with_error_codes(sf_emulator, sf_session, overrides, error):
    data = {} if overrides is None else _client_credentials(sf_emulator.connection_info, **overrides)
    response = _token_request(sf_emulator, sf_session, data)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["error_description"]


def test_password_flow_then_refresh_token(sf_emulator, sf_session):
    info = sf_emulator.connection_info
    base = {"client_id": info["client_id"], "client_secret": info["client_secret"], "username": info["username"]}
    wrong = _token_request(sf_emulator, sf_session, {**base, "grant_type": "password", "password": info["password"]})
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "authentication failure"}

    ok = _token_request(sf_emulator, sf_session, {
        **base, "grant_type": "password", "password": info["password"] + info["security_token"],
    })
    assert ok.status_code == 200
    refresh = ok.json()["refresh_token"]

    renewed = _token_request(sf_emulator, sf_session, {
        "grant_type": "refresh_token", "refresh_token": refresh,
        "client_id": info["client_id"], "client_secret": info["client_secret"],
    })
    assert renewed.status_code == 200
    token = renewed.json()["access_token"]
    assert token != ok.json()["access_token"]
    sf = Salesforce(instance_url=info["instance_url"], session_id=token, session=sf_session)
    assert sf.limits()["DailyApiRequests"]["Max"] == sf_emulator.api_counter.maximum

    bad = _token_request(sf_emulator, sf_session, {
        "grant_type": "refresh_token", "refresh_token": "5Aepnope",
        "client_id": info["client_id"], "client_secret": info["client_secret"],
    })
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_jwt_bearer_accepts_the_generated_keypair(sf_emulator, sf_session):
    info = sf_emulator.connection_info
    response = _token_request(sf_emulator, sf_session, {"grant_type": JWT_GRANT, "assertion": _assertion(info)})
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    sf = Salesforce(instance_url=info["instance_url"], session_id=response.json()["access_token"], session=sf_session)
    assert sf.describe()["sobjects"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp_delta": -600}, "invalid_grant"),
        ({"iss": "3MVG9someoneelse"}, "invalid_client_id"),
        ({"sub": "someone@else.example.com"}, "invalid_grant"),
    ],
)
def test_jwt_bearer_rejects_bad_claims(sf_emulator, sf_session, overrides, error):
    assertion = _assertion(sf_emulator.connection_info, **overrides)
    response = _token_request(sf_emulator, sf_session, {"grant_type": JWT_GRANT, "assertion": assertion})
    assert response.status_code == 400
    assert response.json()["error"] == error


@pytest.mark.parametrize("aud", ["__my_domain__", "__my_domain__/", SANDBOX, PRODUCTION + "/", "https://acme.my.site.com"])
def test_a_production_org_accepts_only_the_production_audience(sf_emulator, sf_session, aud):
    # The My Domain the assertion is posted to is not its audience: Salesforce's authorization server is.
    info = sf_emulator.connection_info
    aud = aud.replace("__my_domain__", info["login_url"])
    response = _token_request(sf_emulator, sf_session, {"grant_type": JWT_GRANT, "assertion": _assertion(info, aud=aud)})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}


def test_a_sandbox_org_accepts_only_the_sandbox_audience(tmp_path):
    from salesforce_emulator.client import trusting_session
    from salesforce_emulator.server import EmulatorServer

    with EmulatorServer(tmp_path / "sandbox", contacts=5, org_kind="sandbox", bulk_delay=0.1) as emu:
        info = emu.connection_info
        assert info["org_kind"] == "sandbox"
        session = trusting_session(info)
        url = f"{info['login_url']}/services/oauth2/token"
        refused = session.post(url, data={"grant_type": JWT_GRANT, "assertion": _assertion(info, aud=PRODUCTION)})
        assert refused.status_code == 400
        assert refused.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}
        granted = session.post(url, data={"grant_type": JWT_GRANT, "assertion": _assertion(info, aud=SANDBOX)})
        assert granted.status_code == 200, granted.text
        # The SOAP login result says which kind of org it is.
        envelope = (
            '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
            '<n1:login xmlns:n1="urn:partner.soap.sforce.com">'
            f'<n1:username>{info["username"]}</n1:username>'
            f'<n1:password>{info["password"] + info["security_token"]}</n1:password>'
            "</n1:login></env:Body></env:Envelope>"
        )
        soap = session.post(f"{info['login_url']}/services/Soap/u/59.0", envelope,
                            headers={"SOAPAction": "login", "Content-Type": "text/xml"})
        assert soap.status_code == 200 and b"<sandbox>true</sandbox>" in soap.content
        session.close()


def test_an_unknown_org_kind_is_refused(tmp_path):
    from salesforce_emulator.server import EmulatorServer

    with pytest.raises(ValueError, match="org_kind must be one of"):
        EmulatorServer(tmp_path / "x", org_kind="scratch")


def test_jwt_bearer_rejects_a_foreign_signature(sf_emulator, sf_session, tmp_path):
    from salesforce_emulator.tls import ensure_jwt_keypair

    other = ensure_jwt_keypair(tmp_path)
    assertion = _assertion(sf_emulator.connection_info, key_file=other.private_key_file)
    response = _token_request(sf_emulator, sf_session, {"grant_type": JWT_GRANT, "assertion": assertion})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_soap_login_through_simple_salesforce(sf_emulator, sf_session):
    # SalesforceLogin builds https://{domain}.salesforce.com unless scratch_url is given;
    # scratch_url is the one way to point its SOAP login at another host.
    info = sf_emulator.connection_info
    session_id, instance = SalesforceLogin(
        username=info["username"], password=info["password"], security_token=info["security_token"],
        session=sf_session, scratch_url=info["login_url"],
    )
    assert instance == info["instance_url"].removeprefix("https://")
    sf = Salesforce(instance=instance, session_id=session_id, session=sf_session)
    assert sf.Account.describe()["name"] == "Account"

    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        SalesforceLogin(username=info["username"], password="wrong", security_token=info["security_token"],
                        session=sf_session, scratch_url=info["login_url"])
    assert failure.value.code == "INVALID_LOGIN"


def test_soap_login_wire_format(sf_emulator, sf_session):
    info = sf_emulator.connection_info
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f'<n1:username>{info["username"]}</n1:username><n1:password>{{password}}</n1:password>'
        "</n1:login></env:Body></env:Envelope>"
    )
    url = f"{info['login_url']}/services/Soap/u/59.0"
    headers = {"SOAPAction": "login", "Content-Type": "text/xml"}
    ok = sf_session.post(url, envelope.format(password=info["password"] + info["security_token"]), headers=headers)
    assert ok.status_code == 200
    dom = xml.dom.minidom.parseString(ok.content)
    (session_el,) = dom.getElementsByTagName("sessionId")
    (server_el,) = dom.getElementsByTagName("serverUrl")
    assert session_el.attributes.length == 0 and server_el.namespaceURI == "urn:partner.soap.sforce.com"
    assert re.fullmatch(re.escape(info["instance_url"]) + r"/services/Soap/u/59\.0/00D\w{15}", server_el.firstChild.data)

    fault = sf_session.post(url, envelope.format(password="nope"), headers=headers)
    assert fault.status_code == 500
    assert b"<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in fault.content
    assert b'xmlns:sf="urn:fault.partner.soap.sforce.com"' in fault.content


def test_missing_and_unknown_tokens_get_401_arrays(sf_emulator, sf_session):
    url = f"{sf_emulator.connection_info['instance_url']}/services/data/v59.0/limits"
    missing = sf_session.get(url)
    assert missing.status_code == 401
    assert missing.json()[0]["errorCode"] == "INVALID_AUTH_HEADER"
    unknown = sf_session.get(url, headers={"Authorization": "Bearer 00Dnope!ARnope"})
    assert unknown.status_code == 401
    assert unknown.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}]
    assert "Sforce-Limit-Info" not in unknown.headers

    sf = Salesforce(instance_url=sf_emulator.connection_info["instance_url"], session_id="00Dnope!ARx", session=sf_session)
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()


def test_server_options_jwt_cert_token_lifetime_and_daily_limit(tmp_path, sf_session):
    from salesforce_emulator.server import EmulatorServer
    from salesforce_emulator.tls import ensure_jwt_keypair

    (tmp_path / "keys").mkdir()
    other = ensure_jwt_keypair(tmp_path / "keys")
    with EmulatorServer(tmp_path / "org", contacts=50, token_lifetime=1, daily_api_limit=3,
                        jwt_cert=other.cert_file, bulk_delay=0.1) as emu:
        info = emu.connection_info
        session = type(sf_session)()
        session.verify, session.trust_env = info["ca_file"], False
        assert info["jwt_cert_file"] == str(other.cert_file)
        url = f"{info['login_url']}/services/oauth2/token"
        own_key = session.post(url, data={"grant_type": JWT_GRANT, "assertion": _assertion(info)})
        assert own_key.status_code == 400
        granted = session.post(url, data={"grant_type": JWT_GRANT,
                                          "assertion": _assertion(info, key_file=other.private_key_file)})
        assert granted.status_code == 200
        sf = Salesforce(instance_url=info["instance_url"], session_id=granted.json()["access_token"], session=session)
        assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
        time.sleep(1.2)
        with pytest.raises(SalesforceExpiredSession) as expired:
            sf.limits()
        assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"

        sf = Salesforce(instance_url=info["instance_url"], session_id=client_credentials_token(info, session),
                        session=session)
        sf.limits()
        sf.limits()
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.limits()
        assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert sf.api_usage["api-usage"].used == 3
        assert [e["status"] for e in emu.audit() if e["kind"] == "api"] == [200, 401, 200, 200, 403]


def test_audit_log_never_contains_tokens(sf_emulator, sf_session, sf_client):
    sf_client.limits()
    token = sf_client.session_id
    assert token not in (sf_emulator.data_dir / "audit.jsonl").read_text()
    assert token not in json.dumps(sf_emulator.audit())


def test_serve_takes_the_org_kind():
    from salesforce_emulator.__main__ import _parser

    assert _parser().parse_args(["serve", "--data-dir", "d"]).org_kind == "production"
    assert _parser().parse_args(["serve", "--data-dir", "d", "--org-kind", "sandbox"]).org_kind == "sandbox"
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--data-dir", "d", "--org-kind", "scratch"])
