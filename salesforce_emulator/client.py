"""A simple-salesforce client for an emulated org: the tests' and benchmarks' independent reader."""

from __future__ import annotations

from typing import Any

import requests


def trusting_session(connection_info: dict[str, Any]) -> requests.Session:
    """A session that verifies the emulator's certificate against its CA file."""
    session = requests.Session()
    session.verify = connection_info["ca_file"]
    # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify when trust_env
    # is on (requests issue #3829); this machine sets them, so the CA would be ignored.
    session.trust_env = False
    return session


def client_credentials_token(connection_info: dict[str, Any], session: requests.Session) -> str:
    """An access token from the emulator's OAuth endpoint (client-credentials flow, credentials in the body)."""
    response = session.post(
        f"{connection_info['login_url']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": connection_info["client_id"],
            "client_secret": connection_info["client_secret"],
        },
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def simple_salesforce_client(connection_info: dict[str, Any], session: requests.Session | None = None):
    """simple-salesforce in its direct-session form, holding a fresh token."""
    from simple_salesforce import Salesforce

    session = session or trusting_session(connection_info)
    return Salesforce(
        instance_url=connection_info["instance_url"],
        session_id=client_credentials_token(connection_info, session),
        session=session,
    )
