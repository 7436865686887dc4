"""Authentication: the org's credentials, OAuth token flows, SOAP login, and sessions.

Credentials are generated once per data dir (DIR/credentials.json, mode 0600) with `secrets`
and kept, so a restarted emulator accepts the same client id/secret/password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import jwt

_ALNUM = string.ascii_letters + string.digits
_PARTNER_NS = "urn:partner.soap.sforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The one JWT bearer audience an org accepts, by kind: its authorization server's URL, never the My
# Domain the assertion is posted to ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration").
# Experience Cloud site audiences are not emulated.
ORG_KINDS = {"production": "https://login.salesforce.com", "sandbox": "https://test.salesforce.com"}


def _random_id(prefix: str, length: int = 15) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length - len(prefix)))


@dataclass(frozen=True)
class Credentials:
    org_id: str
    user_id: str
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Credentials:
        path = data_dir / "credentials.json"
        if path.exists():
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        creds = cls(
            org_id=_random_id("00D", 18),
            user_id=_random_id("005", 18),
            username="integration.user@emulator.example.com",
            password=secrets.token_urlsafe(18),
            security_token="".join(secrets.choice(_ALNUM) for _ in range(24)),
            # Connected-app consumer keys start with 3MVG9; secrets are long hex strings.
            client_id="3MVG9" + "".join(secrets.choice(_ALNUM + "._") for _ in range(80)),
            client_secret=secrets.token_hex(32).upper(),
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(creds), indent=2), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
        return creds


class AuthError(Exception):
    """An OAuth failure: 400 {"error": code, "error_description": description}."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description}


class Sessions:
    """Issued access and refresh tokens. Access tokens expire `lifetime` seconds after issue.

    Real Salesforce times sessions out after inactivity; an absolute lifetime is stricter and
    deterministic, which is what reauthentication tests need.
    """

    def __init__(self, org_id: str, lifetime: float) -> None:
        self._org_id = org_id
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()

    def _token(self) -> str:
        # Shape of a real session id: "<org id>!<opaque>".
        return f"{self._org_id}!AR" + secrets.token_urlsafe(72).replace("-", ".").replace("_", "")

    def issue(self) -> str:
        token = self._token()
        with self._lock:
            self._access[token] = time.monotonic() + self.lifetime
        return token

    def issue_refresh(self) -> str:
        token = "5Aep" + secrets.token_urlsafe(64).replace("-", ".").replace("_", "")
        with self._lock:
            self._refresh.add(token)
        return token

    def valid_refresh(self, token: str) -> bool:
        with self._lock:
            return token in self._refresh

    def check(self, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            expires = self._access.get(token)
            if expires is None:
                return False
            if expires <= now:
                del self._access[token]
                return False
            return True

    def invalidate_all(self) -> None:
        with self._lock:
            self._access.clear()


class Authenticator:
    """The OAuth token endpoint and SOAP login for one org (production or sandbox: ``ORG_KINDS``)."""

    def __init__(
        self, creds: Credentials, sessions: Sessions, jwt_public_key: bytes, *, org_kind: str = "production"
    ) -> None:
        self.creds = creds
        self.sessions = sessions
        self._jwt_public_key = jwt_public_key
        self.org_kind = org_kind
        self.jwt_audience = ORG_KINDS[org_kind]

    def _identity_url(self, base_url: str) -> str:
        return f"{base_url}/id/{self.creds.org_id}/{self.creds.user_id}"

    def _token_response(self, base_url: str, *, with_refresh: bool) -> dict:
        issued_at = str(int(time.time() * 1000))
        identity = self._identity_url(base_url)
        signature = base64.b64encode(
            hmac.new(self.creds.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body = {
            "access_token": self.sessions.issue(),
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if with_refresh:
            body["refresh_token"] = self.sessions.issue_refresh()
        return body

    def _check_client(self, client_id: str | None, client_secret: str | None, *, need_secret: bool) -> None:
        if not client_id or not hmac.compare_digest(client_id, self.creds.client_id):
            raise AuthError("invalid_client_id", "client identifier invalid")
        if need_secret and (not client_secret or not hmac.compare_digest(client_secret, self.creds.client_secret)):
            raise AuthError("invalid_client", "invalid client credentials")

    def _check_password(self, username: str | None, password: str | None) -> None:
        expected = self.creds.password + self.creds.security_token
        if username != self.creds.username or not password or not hmac.compare_digest(password, expected):
            raise AuthError("invalid_grant", "authentication failure")

    def token(self, form_body: bytes, authorization: str | None, base_url: str) -> dict:
        """POST /services/oauth2/token; raises AuthError for a 400 answer.

        Client credentials are read from the form body only, the form Salesforce documents for its
        flows. Whether Salesforce also honours HTTP Basic client authentication is not settled by
        public evidence (simple-salesforce sends Basic for client_credentials; Salesforce has been
        reported to require the body parameters even though its discovery document lists
        client_secret_basic), so ``authorization`` is ignored: a Basic-only request has no client_id.
        """
        del authorization
        form = {k: v[0] for k, v in parse_qs(form_body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        if grant == "client_credentials":
            self._check_client(client_id, client_secret, need_secret=True)
            return self._token_response(base_url, with_refresh=False)
        if grant == "password":
            self._check_client(client_id, client_secret, need_secret=True)
            self._check_password(form.get("username"), form.get("password"))
            # Real orgs issue refresh tokens from the web-server flow, which the emulator lacks;
            # handing one out here makes the refresh_token grant testable.
            return self._token_response(base_url, with_refresh=True)
        if grant == "refresh_token":
            self._check_client(client_id, client_secret, need_secret=True)
            if not self.sessions.valid_refresh(form.get("refresh_token", "")):
                raise AuthError("invalid_grant", "expired access/refresh token")
            return self._token_response(base_url, with_refresh=False)
        if grant == JWT_GRANT:
            self._check_jwt(form.get("assertion", ""), base_url)
            # Like Salesforce, the JWT bearer flow never returns a refresh token.
            return self._token_response(base_url, with_refresh=False)
        raise AuthError("unsupported_grant_type", "grant type not supported")

    def _check_jwt(self, assertion: str, base_url: str) -> None:
        del base_url  # the audience is the org kind's authorization server, never the host posted to
        try:
            claims = jwt.decode(
                assertion,
                self._jwt_public_key,
                algorithms=["RS256"],
                audience=self.jwt_audience,
                options={"require": ["exp", "iss", "sub", "aud"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("invalid_grant", "expired authorization code") from exc
        except jwt.InvalidAudienceError as exc:
            # Salesforce's wording: {"error":"invalid_grant","error_description":"audience is invalid"}
            # (quoted in omniphx/forrest's issue tracker, for an assertion posted to a sandbox My Domain).
            raise AuthError("invalid_grant", "audience is invalid") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid_grant", "invalid assertion") from exc
        if claims["iss"] != self.creds.client_id:
            raise AuthError("invalid_client_id", "client identifier invalid")
        if claims["sub"] != self.creds.username:
            raise AuthError("invalid_grant", "authentication failure")

    def soap_login(self, body: bytes, base_url: str, version: str) -> tuple[int, str]:
        """POST /services/Soap/u/{version} -> (status, XML)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 500, _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        login = root.find(f".//{{{_PARTNER_NS}}}login")
        username = login.findtext(f"{{{_PARTNER_NS}}}username") if login is not None else None
        password = login.findtext(f"{{{_PARTNER_NS}}}password") if login is not None else None
        try:
            self._check_password(username, password)
        except AuthError:
            return 500, _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        session_id = self.sessions.issue()
        org = self.creds.org_id
        return 200, (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns="{_PARTNER_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base_url}/services/Soap/m/{version}/{org}</metadataServerUrl>"
            f"<passwordExpired>false</passwordExpired><sandbox>{str(self.org_kind == 'sandbox').lower()}</sandbox>"
            f"<serverUrl>{base_url}/services/Soap/u/{version}/{org}</serverUrl>"
            f"<sessionId>{escape(session_id)}</sessionId>"
            f"<userId>{self.creds.user_id}</userId>"
            f"<userInfo><organizationId>{org}</organizationId><userId>{self.creds.user_id}</userId>"
            f"<userName>{escape(self.creds.username)}</userName>"
            f"<sessionSecondsValid>{int(self.sessions.lifetime)}</sessionSecondsValid></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )


def _soap_fault(code: str, message: str) -> str:
    # simple-salesforce looks the elements up by the literal names 'sf:exceptionCode' and
    # 'sf:exceptionMessage', so the 'sf' prefix is part of the contract.
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
