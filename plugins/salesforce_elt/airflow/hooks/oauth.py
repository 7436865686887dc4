"""OAuth 2.0 token requests against a configurable login URL (sync hook and async trigger share this).

simple-salesforce hard-codes ``https://{domain}.salesforce.com`` for its logins, so to reach any
other host (the emulator, a proxy, a government cloud) the project requests the token itself and
hands ``instance_url`` + ``access_token`` to simple-salesforce as a direct session.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from salesforce_elt.airflow.hooks.errors import SalesforceAuthError
from salesforce_elt.airflow.provider_info import CONNECTION_TYPE

AuthFlow = Literal["client_credentials", "jwt", "password"]
AUTH_FLOWS: tuple[str, ...] = ("client_credentials", "jwt", "password")
TOKEN_PATH = "/services/oauth2/token"
DEFAULT_API_VERSION = "59.0"
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts at most 3 minutes
# The JWT bearer assertion's audience names Salesforce's authorization server, not the host the
# assertion is posted to ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration").
PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
# The generic login hosts: Salesforce serves the client credentials flow only from an org's own
# My Domain and answers these with invalid_grant "request not supported on this domain".
GENERIC_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})
# Sandbox host forms, as the Salesforce CLI tells them apart (forcedotcom/sfdx-core,
# src/util/sfdcUrl.ts isSandboxUrl): test.salesforce.com, enhanced-domain sandboxes
# (*.sandbox.my.salesforce.com), My Domains on or without a CS instance, Hyperforce sandboxes.
_SANDBOX_HOST = re.compile(
    r"(^test\.salesforce\.com$)"
    r"|(\.sandbox\.my\.salesforce\.com$)"
    r"|((^|\.)cs\d+(\.my)?\.salesforce\.com$)"
    r"|((^|\.)[a-z]{3}\d+s\.sfdc-.+\.(salesforce|force)\.com$)"
)


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Blank UI fields arrive as "", which must mean "not set" (as in the provider's hook).
    value = extras.get(name, extras.get(f"extra__salesforce__{name}"))
    return value if value not in ("", None) else None


@dataclass(frozen=True)
class AuthSettings:
    """Everything needed to obtain a token; secrets are excluded from repr so they never reach logs."""

    login_url: str
    flow: AuthFlow
    version: str = DEFAULT_API_VERSION
    ca_bundle: str | None = None
    consumer_key: str | None = None
    username: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_file_path: str | None = None
    jwt_audience: str | None = None  # None: derived from login_url (see ``audience``)

    @classmethod
    def from_connection(cls, conn: Any) -> AuthSettings | None:
        """Read an Airflow connection; ``None`` means the provider's own simple-salesforce login.

        A ``salesforce`` connection uses our login only with a ``login_url`` extra. A ``salesforce_elt``
        connection that names a connected app (``consumer_key``/``client_id``) always does: without
        ``login_url`` its login host comes from the provider's fields, as simple-salesforce builds it
        (``domain`` -> ``https://<domain>.salesforce.com``), else ``instance_url``, else
        ``https://login.salesforce.com``. Without a connected app (SOAP login with username, password
        and security token) both types keep the provider's login.
        """
        extras = conn.extra_dejson or {}
        login_url = _extra(extras, "login_url")
        if not login_url and getattr(conn, "conn_type", None) == CONNECTION_TYPE:
            login_url = cls._provider_login_url(conn.conn_id, extras)
        if not login_url:
            return None
        private_key = _extra(extras, "private_key")
        private_key_file = _extra(extras, "private_key_file_path")
        flow = _extra(extras, "auth_flow")
        if flow is None:
            flow = (
                "jwt"
                if (private_key or private_key_file)
                else "password"
                if conn.password
                else "client_credentials"
            )
        if flow not in AUTH_FLOWS:
            raise SalesforceAuthError(
                "INVALID_SETTING",
                f"connection {conn.conn_id!r}: extra auth_flow={flow!r} is not one of {', '.join(AUTH_FLOWS)}",
            )
        ca_bundle = _extra(extras, "ca_bundle")
        if ca_bundle is not None and not os.path.isfile(ca_bundle):
            raise SalesforceAuthError(
                "INVALID_SETTING",
                f"connection {conn.conn_id!r}: extra ca_bundle file {ca_bundle!r} does not exist",
            )
        jwt_audience = _extra(extras, "jwt_audience")
        if jwt_audience is not None:
            jwt_audience = str(jwt_audience).strip().rstrip("/")
            parts = urlsplit(jwt_audience)
            if parts.scheme != "https" or not parts.hostname:
                raise SalesforceAuthError(
                    "INVALID_SETTING",
                    f"connection {conn.conn_id!r}: extra jwt_audience={jwt_audience!r} is not an https:// "
                    f"URL (use {PRODUCTION_AUDIENCE}, {SANDBOX_AUDIENCE} or an Experience Cloud site URL)",
                )
        return cls(
            login_url=str(login_url).rstrip("/"),
            flow=flow,
            version=str(_extra(extras, "version") or DEFAULT_API_VERSION),
            ca_bundle=ca_bundle,
            consumer_key=_extra(extras, "consumer_key") or _extra(extras, "client_id"),
            consumer_secret=_extra(extras, "consumer_secret") or _extra(extras, "client_secret"),
            username=conn.login or None,
            password=conn.password or None,
            security_token=_extra(extras, "security_token"),
            private_key=private_key,
            private_key_file_path=private_key_file,
            jwt_audience=jwt_audience,
        )

    @staticmethod
    def _provider_login_url(conn_id: str, extras: dict[str, Any]) -> str | None:
        """The login origin the provider's fields imply, for a connection with a connected app."""
        if not (_extra(extras, "consumer_key") or _extra(extras, "client_id")):
            return None
        domain = _extra(extras, "domain")
        if domain is not None:
            domain = str(domain).strip().strip(".")
            # simple-salesforce puts it between "https://" and ".salesforce.com": a name part only.
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain) or domain.lower().endswith(
                ".salesforce.com"
            ):
                raise SalesforceAuthError(
                    "INVALID_SETTING",
                    f"connection {conn_id!r}: extra domain={domain!r} must be the part before .salesforce.com "
                    "(login, test or <MyDomainName>.my); put a full URL in login_url instead",
                )
            return f"https://{domain}.salesforce.com"
        instance_url = _extra(extras, "instance_url")
        if instance_url is not None:
            # simple-salesforce reads it two ways: a URL (direct sessions: its host) or, for its JWT
            # login, a name part such as "acme.my" put before .salesforce.com. Both reached over https.
            text = str(instance_url).strip()
            host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text, flags=re.IGNORECASE).split("/", 1)[0]
            if not host:
                raise SalesforceAuthError(
                    "INVALID_SETTING", f"connection {conn_id!r}: extra instance_url={instance_url!r} names no host"
                )
            full = "://" in text or host.lower().split(":", 1)[0].endswith((".salesforce.com", ".force.com"))
            return f"https://{host}" if full else f"https://{host}.salesforce.com"
        return "https://login.salesforce.com"  # simple-salesforce's default domain, "login"

    @property
    def audience(self) -> str:
        """The JWT bearer ``aud``: the ``jwt_audience`` extra, else derived from ``login_url``."""
        return self.jwt_audience or audience_for_login_url(self.login_url)

    @property
    def verify(self) -> str | bool:
        """requests' ``verify``: the CA bundle when configured, else the system trust store (never off)."""
        return self.ca_bundle or True

    def ssl_context(self) -> ssl.SSLContext:
        """The same trust decision for aiohttp."""
        return (
            ssl.create_default_context(cafile=self.ca_bundle)
            if self.ca_bundle
            else ssl.create_default_context()
        )


@dataclass(frozen=True)
class TokenRequest:
    url: str
    data: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class OAuthToken:
    instance_url: str
    access_token: str = field(repr=False)


def login_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_sandbox_host(host: str) -> bool:
    return bool(_SANDBOX_HOST.search(host.lower().rstrip(".")))


def audience_for_login_url(login_url: str) -> str:
    """``https://test.salesforce.com`` for a sandbox login host, ``https://login.salesforce.com`` otherwise.

    An Experience Cloud site's assertions name the site URL instead: set the ``jwt_audience`` extra.
    """
    return SANDBOX_AUDIENCE if is_sandbox_host(login_host(login_url)) else PRODUCTION_AUDIENCE


def client_credentials_on_generic_host(settings: AuthSettings) -> bool:
    """True when the client credentials flow is pointed at login/test.salesforce.com, which refuse it."""
    return settings.flow == "client_credentials" and login_host(settings.login_url) in GENERIC_LOGIN_HOSTS


def _require(settings: AuthSettings, *names: str) -> None:
    missing = [n for n in names if not getattr(settings, n)]
    if missing:
        raise SalesforceAuthError(
            "INVALID_SETTING",
            f"auth_flow {settings.flow!r} needs connection setting(s): {', '.join(missing)}",
        )


def _jwt_assertion(settings: AuthSettings) -> str:
    import jwt  # pyjwt; imported here to keep DAG parsing light

    key = settings.private_key
    if not key and settings.private_key_file_path:
        with open(settings.private_key_file_path, encoding="utf-8") as fh:
            key = fh.read()
    if not key:
        raise SalesforceAuthError(
            "INVALID_SETTING", "auth_flow 'jwt' needs private_key or private_key_file_path"
        )
    claims = {
        "iss": settings.consumer_key,
        "sub": settings.username,
        "aud": settings.audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def token_request(settings: AuthSettings) -> TokenRequest:
    """The form POST for the configured flow."""
    url = settings.login_url + TOKEN_PATH
    headers = {"Accept": "application/json"}
    if settings.flow == "client_credentials":
        _require(settings, "consumer_key", "consumer_secret")
        # In the form body, as Salesforce documents the flow; HTTP Basic is not relied on.
        data = {
            "grant_type": "client_credentials",
            "client_id": settings.consumer_key or "",
            "client_secret": settings.consumer_secret or "",
        }
        return TokenRequest(url, data, headers)
    if settings.flow == "jwt":
        _require(settings, "consumer_key", "username")
        data = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": _jwt_assertion(settings),
        }
        return TokenRequest(url, data, headers)
    _require(settings, "consumer_key", "consumer_secret", "username", "password")
    data = {
        "grant_type": "password",
        "client_id": settings.consumer_key or "",
        "client_secret": settings.consumer_secret or "",
        "username": settings.username or "",
        "password": (settings.password or "") + (settings.security_token or ""),
    }
    return TokenRequest(url, data, headers)


def parse_token_response(status: int, body: str, settings: AuthSettings) -> OAuthToken:
    """The token from a 200 answer; a SalesforceAuthError (code + description only) otherwise."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    if (
        status == 200
        and isinstance(parsed, dict)
        and parsed.get("access_token")
        and parsed.get("instance_url")
    ):
        return OAuthToken(
            instance_url=str(parsed["instance_url"]).rstrip("/"), access_token=parsed["access_token"]
        )
    if not isinstance(parsed, dict):
        parsed = {}
    code = str(parsed.get("error") or f"HTTP_{status}")
    description = str(parsed.get("error_description") or "unexpected token response")
    if client_credentials_on_generic_host(settings):
        description += (
            "; the client credentials flow is served only by the org's My Domain: set login_url to "
            "https://<MyDomainName>.my.salesforce.com (sandbox: <MyDomainName>--<SandboxName>.sandbox.my.salesforce.com)"
        )
    elif settings.flow == "jwt" and "audience" in description.lower():
        description += (
            f"; the assertion's aud was {settings.audience}: set the connection's jwt_audience extra to "
            f"{SANDBOX_AUDIENCE} for a sandbox, {PRODUCTION_AUDIENCE} otherwise"
        )
    raise SalesforceAuthError(
        code,
        f"{settings.flow} login for connection at {settings.login_url} refused: {description}",
        status,
        TOKEN_PATH,
    )
