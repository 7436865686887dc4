"""An independent simple-salesforce REST client for the emulated org (the tests' reader, not the pipeline's)."""

from __future__ import annotations

from contextlib import contextmanager

import requests


def rest_client(org):
    """simple-salesforce on its own session trusting the emulator's CA, token via client credentials."""
    from simple_salesforce import Salesforce

    info = org.connection_info
    session = requests.Session()
    session.verify = info["ca_file"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    token = session.post(
        f"{info['login_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=30,
    )
    token.raise_for_status()
    return Salesforce(
        instance_url=info["instance_url"], session_id=token.json()["access_token"], session=session
    )


@contextmanager
def rest_session(org):
    """``rest_client(org)`` for the block; its HTTP session is closed afterwards."""
    client = rest_client(org)
    try:
        yield client
    finally:
        client.session.close()
