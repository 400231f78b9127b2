"""Who is behind a key the config does not list: an enrolled key, the device flow, or a CI token."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from broker.auditchain.context import stamp_session
from broker.auditchain.events import Action
from broker.frontdoor.channel import TerminalChannel
from broker.identity.claims import Identity
from broker.identity.device import DeviceGrant
from broker.identity.errors import SignInError
from broker.identity.principal import pending_principal, signed_in_principal
from broker.identity.qr import qr_lines
from broker.identity.signin import SignIn

TOKEN_ENV = "GATEHOUSE_TOKEN"  # noqa: S105 (a variable name, not a secret)
"""The only environment variable a token is read from (ssh ``SendEnv GATEHOUSE_TOKEN``)."""
TOKEN_VERBS = frozenset({"run", "sql"})
"""The commands a CI job or agent may run with a token alone (nothing interactive)."""
CANCEL_KEYS = (b"\x03", b"\x1b", b"q")


def token_from(channel: TerminalChannel) -> str:
    """The access token the client sent as ``GATEHOUSE_TOKEN`` (empty: none)."""
    env: dict[Any, Any] = dict(channel.process.env or {})
    value = env.get(TOKEN_ENV, "")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()


def device_prompt(grant: DeviceGrant, now: float, *, qr: bool = True) -> list[str]:
    """The lines shown to the person: where to go, the code, the QR code, how long it is valid."""
    minutes = max(1, round((grant.expires_at - now) / 60))
    lines = [
        "Sign in with your organisation's identity provider:",
        f"  open   {grant.verification_uri}",
        f"  code   {grant.user_code}   (valid {minutes} min)",
    ]
    if qr:
        lines += ["  or scan this with your phone:", *qr_lines(grant.verification_uri_complete)]
    return lines


class _CancelKeys:
    """Consumer of the person's keys while the flow waits: Ctrl-C, Esc or q cancels."""

    def __init__(self) -> None:
        self.pressed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        if any(key in data for key in CANCEL_KEYS):
            self.pressed.set()

    def size_changed(self, cols: int, rows: int) -> None:
        return None

    def eof_received(self) -> None:
        return None  # no more input is not leaving: the channel's close is


async def establish(
    signin: SignIn, channel: TerminalChannel, user: str, fingerprint: str, verb: str | None
) -> Identity:
    """Find or establish the identity of an SSH login that the config does not vouch for.

    A ``GATEHOUSE_TOKEN`` is tried for ``run`` and ``sql`` only; otherwise a live enrolment of the key;
    otherwise the device flow, shown on the terminal (a pty session) or stderr (a command),
    waiting until sign-in, denial, the code's expiry, or the person cancels.

    Raises:
        SignInError: every refusal (audited), with the one line to show.
    """
    token = token_from(channel)
    if token:
        if verb not in TOKEN_VERBS:
            error = SignInError(
                "token_verb", "GATEHOUSE_TOKEN is accepted for `run` and `sql` only"
            )
            await signin.emit(
                user,
                Action.IDP_LOGIN_FAILED,
                "gatehouse",
                {"reason": error.reason, "message": str(error)},
            )
            raise error
        return await signin.token_login(user, token)
    identity = await signin.enrolled(user, fingerprint)
    if identity is not None:
        return identity
    tty = channel.has_pty  # Ctrl-C reaches us as a key only on a pty

    def show(grant: DeviceGrant) -> None:
        lines = device_prompt(grant, time.monotonic())
        tail = (
            "Waiting for you to sign in… (Ctrl-C cancels)" if tty else "Waiting for you to sign in…"
        )
        channel.write_stderr(("\r\n".join([*lines, tail]) + "\r\n").encode())

    keys = _CancelKeys()
    if tty:
        channel.set_consumer(keys)
    source = channel.principal.client_addr.rpartition(":")[0]
    login = asyncio.ensure_future(signin.device_login(user, fingerprint, show, source=source))
    ended = asyncio.ensure_future(_ended(channel, keys))
    try:
        await asyncio.wait({login, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if tty:
            channel.set_consumer(None)
        ended.cancel()
        if not login.done():
            login.cancel()
            await asyncio.wait({login})  # its end, without taking on its cancellation
    if login.cancelled():
        error = SignInError("cancelled", "sign-in cancelled")
        await signin.emit(
            user,
            Action.IDP_LOGIN_FAILED,
            "gatehouse",
            {"reason": error.reason, "message": str(error), "key_fingerprint": fingerprint},
        )
        raise error
    return login.result()


async def _ended(channel: TerminalChannel, keys: _CancelKeys) -> None:
    """Returns when the person cancels or the SSH channel closes."""
    closing = asyncio.ensure_future(channel.process.channel.wait_closed())
    pressed = asyncio.ensure_future(keys.pressed.wait())
    try:
        await asyncio.wait({closing, pressed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        pressed.cancel()


def verb_of(command: str | None) -> str | None:
    """The first word of an exec command (None: an interactive session)."""
    if command is None:
        return None
    words = command.split(maxsplit=1)
    return words[0] if words else ""


async def sign_in_session(
    signin: SignIn,
    channel: TerminalChannel,
    cached: list[Identity],
    lock: asyncio.Lock,
    command: str | None,
) -> bool:
    """Sign the session's person in (once per connection) and stamp the identity on its records.

    An interactive session (a pty, no command) whose key is not enrolled goes on with a
    pending principal: the TUI shows the device flow before anything else
    (:meth:`broker.services.Services.sign_in`).

    Returns:
        Whether the session may go on; when not, the one-line reason was written to the person.
    """
    principal = channel.principal
    async with lock:
        if not cached:
            try:
                identity = await _identity(signin, channel, command)
            except SignInError as exc:
                channel.write_stderr(f"gatehouse: sign-in failed: {exc}\r\n".encode())
                return False
            if identity is None:
                channel.principal = pending_principal(principal)
                return True
            cached.append(identity)
    channel.principal = signed_in_principal(principal, cached[0])
    stamp_session(cached[0].audit_details())
    return True


async def _identity(
    signin: SignIn, channel: TerminalChannel, command: str | None
) -> Identity | None:
    principal = channel.principal
    if command is None and channel.has_pty and not token_from(channel):
        return await signin.enrolled(principal.name, principal.key_fingerprint)
    return await establish(
        signin, channel, principal.name, principal.key_fingerprint, verb_of(command)
    )
