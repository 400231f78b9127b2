"""The npm ``oidc-provider`` run by node on 127.0.0.1, and the browser steps of its device flow."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.harness.process import HarnessError, kill_and_reap, log_tail, run, wait_until

OIDC_DIR = Path(__file__).resolve().parent.parent / "oidc"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_ACCOUNTS: dict[str, list[str]] = {
    "alice": ["engineers"],
    "bob": ["approvers", "reviewers", "auditors"],
    "carol": [],
}
HTTP_TIMEOUT = 10.0
# Loopback only: never send harness traffic through a proxy from the environment.
_DIRECT = urllib.request.ProxyHandler({})


@dataclass(frozen=True)
class DeviceAuthorization:
    """The provider's answer to ``POST /device/auth``."""

    device_code: str
    """Secret the client polls the token endpoint with."""
    user_code: str
    """Code the person types at the verification page."""
    verification_uri: str
    """Page where the person enters the code."""
    verification_uri_complete: str
    """The same page with the code filled in."""
    expires_in: int
    """Seconds until the codes expire."""
    interval: int
    """Polling interval in seconds (5 when the provider omits it)."""


@dataclass(frozen=True)
class TokenResponse:
    """One answer of the token endpoint: HTTP status and JSON body."""

    status: int
    """HTTP status (200 on success, 400 for ``authorization_pending`` and other errors)."""
    body: dict[str, Any]
    """The decoded JSON body."""

    @property
    def error(self) -> str | None:
        """The OAuth ``error`` code, if any."""
        value = self.body.get("error")
        return str(value) if value is not None else None


def jwt_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT without verifying it (tests verify with authlib/joserfc).

    Args:
        token: A compact JWS.

    Returns:
        The decoded claims.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise HarnessError(f"not a compact JWT: {len(parts)} parts")
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


def ensure_node_modules(directory: Path = OIDC_DIR) -> None:
    """Run ``npm ci`` (or ``npm install``) in ``directory`` when ``node_modules`` is absent."""
    if (directory / "node_modules" / "oidc-provider").is_dir():
        return
    if shutil.which("npm") is None:
        raise HarnessError("npm is not installed; run scripts/install-test-deps")
    verb = "ci" if (directory / "package-lock.json").exists() else "install"
    run(["npm", verb, "--no-audit", "--no-fund", "--silent"], cwd=directory, timeout=300)


class OidcProvider:
    """node ``tests/oidc/server.mjs`` on a free loopback port.

    Attributes:
        issuer: ``http://127.0.0.1:PORT``.
        port: The listening port.
        client_id: The public client (``gatehouse``, no secret).
        confidential_client_id: ``gatehouse-confidential``, authenticating with ``client_secret``.
        client_secret: Random secret of the confidential client.
        accounts: Account id → groups returned in the ``groups`` claim.
        metadata: The discovery document.
        startup_seconds: How long ``start`` took (without a first ``npm install``).
    """

    def __init__(
        self,
        accounts: dict[str, list[str]] | None = None,
        service_clients: dict[str, str] | None = None,
        device_ttl: int = 600,
        access_ttls: dict[str, int] | None = None,
        conform: bool = False,
    ) -> None:
        self.accounts = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self.service_clients = dict(
            {"ci-deploy": secrets.token_urlsafe(24)} if service_clients is None else service_clients
        )
        """Client-credentials clients: client id → secret."""
        self.device_ttl = device_ttl
        """Seconds a device code lives."""
        self.access_ttls = dict(access_ttls or {})
        """Seconds a service client's access tokens live (client id → seconds; 600 otherwise)."""
        self.conform = conform
        """Claims asked for by scope (name, groups) at userinfo only, none in the ID token."""
        self.kid = f"k-{secrets.token_hex(4)}"
        """Id of the current signing key (changes with :meth:`rotate_keys`)."""
        self.client_id = "gatehouse"
        self.confidential_client_id = "gatehouse-confidential"
        self.client_secret = secrets.token_urlsafe(24)
        self.port = 0
        self.issuer = ""
        self.metadata: dict[str, Any] = {}
        self.workdir = Path()
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """node's stdout and stderr."""
        return self.workdir / "oidc.log"

    @property
    def device_authorization_endpoint(self) -> str:
        """URL of ``POST /device/auth``."""
        return str(self.metadata["device_authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        """URL of the token endpoint."""
        return str(self.metadata["token_endpoint"])

    @property
    def jwks_uri(self) -> str:
        """URL of the provider's public keys."""
        return str(self.metadata["jwks_uri"])

    def start(self) -> OidcProvider:
        """Install the npm package if needed, start node and wait for the discovery document.

        Returns:
            ``self``, started.

        Raises:
            HarnessError: node exited or the provider did not answer within 20 s.
        """
        ensure_node_modules()
        node = shutil.which("node")
        if node is None:
            raise HarnessError("node is not installed; run scripts/install-test-deps")
        began = time.monotonic()
        if self.workdir == Path() or not self.workdir.exists():
            self.workdir = Path(tempfile.mkdtemp(prefix="gh-oidc-"))
        env = dict(
            os.environ,
            OIDC_PORT=str(self.port),
            OIDC_CLIENT_SECRET=self.client_secret,
            OIDC_ACCOUNTS=json.dumps(self.accounts),
            OIDC_KID=self.kid,
            OIDC_SERVICE_CLIENTS=json.dumps(self.service_clients),
            OIDC_DEVICE_TTL=str(self.device_ttl),
            OIDC_ACCESS_TTLS=json.dumps(self.access_ttls),
            OIDC_CONFORM="1" if self.conform else "0",
        )
        self.log_path.unlink(missing_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [node, str(OIDC_DIR / "server.mjs")],
                cwd=OIDC_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            announced = wait_until(
                self._announced, timeout=20, what="oidc-provider to listen", detail=self._log
            )
            self.port = int(announced["listening"])
            self.issuer = str(announced["issuer"])
            self.metadata = wait_until(
                self._discovery, timeout=10, what="the discovery document", detail=self._log
            )
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _log(self) -> str:
        return log_tail(self.log_path)

    def _announced(self) -> dict[str, Any] | None:
        if self._proc is not None and self._proc.poll() is not None:
            raise HarnessError(f"node exited with {self._proc.returncode}\n{self._log()}")
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"listening"'):
                announced: dict[str, Any] = json.loads(line)
                return announced
        return None

    def _discovery(self) -> dict[str, Any] | None:
        try:
            status, body = _request("GET", f"{self.issuer}/.well-known/openid-configuration")
        except OSError:
            return None
        return dict(json.loads(body)) if status == 200 else None

    def halt(self) -> None:
        """Stop node by PID, keeping port and temp dir (``start`` again brings it back)."""
        if self._proc is not None:
            kill_and_reap(self._proc)
            self._proc = None

    def rotate_keys(self) -> str:
        """Restart on the same port (same issuer) with a fresh signing key; returns its kid."""
        self.halt()
        self.kid = f"k-{secrets.token_hex(4)}"
        self.start()
        return self.kid

    def client_credentials(
        self, client_id: str = "ci-deploy", *, resource: str | None = None
    ) -> TokenResponse:
        """The client-credentials grant of a service client (a JWT access token for ``resource``)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": self.service_clients[client_id],
            "scope": "run",
        }
        if resource is not None:
            form["resource"] = resource
        return self.token(form)

    def stop(self) -> None:
        """Stop node by PID and remove the temp dir."""
        self.halt()
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start_device_authorization(
        self, scope: str = "openid groups offline_access", *, client_id: str | None = None
    ) -> DeviceAuthorization:
        """Do the client's ``POST /device/auth`` (the broker does this itself in real use).

        Args:
            scope: Requested scopes.
            client_id: Defaults to the public client.

        Returns:
            The device authorization.
        """
        form = {"client_id": client_id or self.client_id, "scope": scope}
        if form["client_id"] == self.confidential_client_id:
            form["client_secret"] = self.client_secret
        status, body = _request("POST", self.device_authorization_endpoint, form)
        if status != 200:
            raise HarnessError(f"POST /device/auth answered {status}: {body[:500]!r}")
        data = json.loads(body)
        return DeviceAuthorization(
            device_code=data["device_code"],
            user_code=data["user_code"],
            verification_uri=data["verification_uri"],
            verification_uri_complete=data["verification_uri_complete"],
            expires_in=int(data["expires_in"]),
            interval=int(data.get("interval", 5)),
        )

    def token(self, form: dict[str, str]) -> TokenResponse:
        """POST ``form`` to the token endpoint and return status and JSON body."""
        status, body = _request("POST", self.token_endpoint, form)
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise HarnessError(f"token endpoint answered {status} with non-JSON") from exc
        return TokenResponse(status=status, body=dict(decoded))

    def poll_device_token(
        self, device_code: str, *, timeout: float = 10.0, client_id: str | None = None
    ) -> TokenResponse:
        """Poll the token endpoint until it stops answering ``authorization_pending``.

        Args:
            device_code: From ``start_device_authorization``.
            timeout: Seconds to poll at most.
            client_id: Defaults to the public client.

        Returns:
            The first answer that is not ``authorization_pending`` (tokens or an error).
        """
        form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
        form["client_id"] = client_id or self.client_id
        if form["client_id"] == self.confidential_client_id:
            form["client_secret"] = self.client_secret

        def answered() -> TokenResponse | None:
            response = self.token(form)
            return None if response.error == "authorization_pending" else response

        return wait_until(
            answered, timeout=timeout, interval=0.1, what="a device-flow token answer"
        )

    def complete_device_flow(
        self, verification_uri: str, user_code: str, account: str = "alice", approve: bool = True
    ) -> str:
        """Play the person's browser: enter the code, log in as ``account`` and consent.

        ``approve=False`` presses "Abort" on the confirmation page, after which the token
        endpoint answers ``access_denied``.

        Args:
            verification_uri: The ``verification_uri`` the client showed.
            user_code: The code the client showed.
            account: Account id to log in as (any id is accepted; groups come from ``accounts``).
            approve: Confirm (``True``) or abort (``False``).

        Returns:
            The text of the last page (the success or the aborted page).

        Raises:
            HarnessError: A page was not what the flow expects.
        """
        browser = _Browser()
        url, page = browser.open(verification_uri)
        xsrf = _field(page, "xsrf", url)
        decision = {"confirm": "yes"} if approve else {"abort": "yes"}
        url, page = browser.open(url, {"xsrf": xsrf, "user_code": user_code, **decision})
        if not approve:
            if "interrupted" not in page:
                raise HarnessError(f"abort was not acknowledged at {url}: {page[:500]!r}")
            return page
        for prompt, fields in (("login", {"login": account, "password": "test"}), ("consent", {})):
            if f'name="prompt" value="{prompt}"' not in page:
                raise HarnessError(f"expected the {prompt} page at {url}, got: {page[:800]!r}")
            action = urllib.parse.urljoin(url, _form_action(page, url))
            url, page = browser.open(action, {"prompt": prompt, **fields})
        if "Success" not in page:
            raise HarnessError(f"device flow did not end in success at {url}: {page[:800]!r}")
        return page


class _Browser:
    """A cookie-keeping urllib opener that follows redirects, like a browser posting forms."""

    def __init__(self) -> None:
        jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(_DIRECT, urllib.request.HTTPCookieProcessor(jar))

    def open(self, url: str, form: dict[str, str] | None = None) -> tuple[str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if form else "GET")
        try:
            with self._opener.open(request, timeout=HTTP_TIMEOUT) as response:
                return str(response.geturl()), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            raise HarnessError(
                f"{request.method} {url} answered {exc.code}: {body[:800]!r}"
            ) from exc


def _field(page: str, name: str, url: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    if match is None:
        raise HarnessError(f"no {name!r} field on {url}: {page[:800]!r}")
    return match.group(1)


def _form_action(page: str, url: str) -> str:
    match = re.search(r'<form[^>]*action="([^"]+)"', page)
    if match is None:
        raise HarnessError(f"no form on {url}: {page[:800]!r}")
    return match.group(1)


def _request(method: str, url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    opener = urllib.request.build_opener(_DIRECT)
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")
