"""Airflow provider metadata: the ``salesforce_elt`` connection type and its form fields.

Airflow finds it through the ``apache_airflow_provider`` entry point of the installed
``salesforce-postgres-elt`` distribution (pyproject.toml). Airflow 3.3's API server and UI read
connection form fields from here (``conn-fields`` / ``ui-field-behaviour``) without importing the
hook; the Test button then instantiates the hook named here and calls its ``test_connection()``.
It also declares the ``[salesforce_elt]`` configuration section (``settings.SETTINGS``), which
``airflow config list`` shows. Kept free of heavy imports: every Airflow process that initialises
its providers loads this module.
"""

from __future__ import annotations

from typing import Any

from salesforce_elt import settings

CONNECTION_TYPE = "salesforce_elt"
HOOK_CLASS = "salesforce_elt.airflow.hooks.salesforce.SalesforceApiHook"
HOOK_NAME = "Salesforce (ELT)"
PACKAGE_NAME = "salesforce-postgres-elt"
CONFIG_VERSION_ADDED = "0.1.0"  # the distribution's version when the section appeared

_TEXT = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}  # masked in the UI and in logs


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": dict(schema)}


# Extras keep the names the provider's SalesforceHook reads (consumer_key, private_key, domain, ...),
# so one connection can serve both hooks; login_url, auth_flow, ca_bundle and jwt_audience are ours.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "login_url": _field(
        "Login URL",
        "Origin of the OAuth token endpoint: https://login.salesforce.com, https://test.salesforce.com "
        "(sandbox) or the org's My Domain https://<MyDomainName>.my.salesforce.com. Blank, with a "
        "Consumer Key: https://<Domain>.salesforce.com, else the Instance URL, else "
        "https://login.salesforce.com; blank without one: the provider's login (username, password "
        "and security token).",
        _TEXT,
    ),
    "auth_flow": _field(
        "Auth Flow",
        "client_credentials, jwt or password. Blank: jwt with a private key, password with a "
        "password, client_credentials otherwise.",
        _TEXT,
    ),
    "consumer_key": _field("Consumer Key", "The connected app's consumer key (client id).", _TEXT),
    "consumer_secret": _field(
        "Consumer Secret", "The connected app's consumer secret (client_credentials and password flows).", _SECRET
    ),
    "private_key": _field("Private Key", "PEM RSA key that signs the JWT bearer assertion (jwt flow).", _SECRET),
    "private_key_file_path": _field(
        "Private Key File Path", "File holding the PEM key, instead of Private Key (jwt flow).", _TEXT
    ),
    "jwt_audience": _field(
        "JWT Audience",
        "The assertion's aud. Blank: https://test.salesforce.com for a sandbox login URL, "
        "https://login.salesforce.com otherwise; an Experience Cloud site names its own URL.",
        _TEXT,
    ),
    "security_token": _field("Security Token", "Appended to the password in the password flow.", _SECRET),
    "ca_bundle": _field(
        "CA Bundle", "A CA file to trust for the login and API hosts (TLS verification is always on).", _TEXT
    ),
    "version": _field("API Version", "Salesforce REST API version, e.g. 59.0 (the default).", _TEXT),
    "domain": _field(
        "Domain",
        "As in the provider's Salesforce connection: login, test, or <MyDomainName>.my; used as "
        "https://<Domain>.salesforce.com when Login URL is blank and Consumer Key is set.",
        _TEXT,
    ),
    "instance_url": _field(
        "Instance URL",
        "The org's URL (My Domain); the login host when Login URL and Domain are blank and Consumer Key is set.",
        _TEXT,
    ),
}

# Port stays visible though the login uses Login URL's: Airflow 3.3.2's Test button (the connection
# list's) sends a stored connection's missing port as 0 and the API then refuses the test as aimed
# at another endpoint (fixed upstream in apache/airflow pull request 73298). A saved port avoids it.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema"],
    "relabeling": {"login": "Username", "password": "Password", "port": "Port (443)"},
    "placeholders": {
        "login": "etl@example.com (password and jwt flows)",
        "port": "443: not used to log in, but Airflow 3.3.2's Test button needs a saved port",
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider-info dict Airflow's ProvidersManager validates and reads."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Salesforce ELT",
        "description": "Salesforce -> PostgreSQL ELT: the `salesforce_elt` connection type, tested by the "
        "project's own login.",
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": HOOK_NAME,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "config": settings.provider_config(CONFIG_VERSION_ADDED),
    }
