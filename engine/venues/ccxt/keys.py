"""API keys in the OS keyring, and only there; redaction so they never reach a log line.

A venue's credentials (API key, secret, optional passphrase) are stored as one keyring entry
under the service ``tradedeck`` and the user name ``<venue>:<account>``. Nothing here writes a key
anywhere else: with no usable keyring backend (a headless Linux box without a Secret Service,
``keyring.backends.fail.Keyring``) every call raises ``KeyringUnavailable`` saying how to get one,
and never falls back to a file, the database, the settings or an environment variable.

Every secret that passes through this module is remembered (in memory, for the process) by the
redactor, so ``redact(text)`` replaces it wherever it shows up: in a log record (``RedactingFilter``
on each handler, ``install_log_redaction()``), in an exception's text, in a command's repr.
``Credentials.__repr__`` shows the venue, the account and the last characters of the key only.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Final

SERVICE: Final = "tradedeck"
MASK: Final = "***"
_MIN_SECRET: Final = 4  # shorter strings are not remembered (they would mask ordinary words)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_MAX_SECRET_LEN: Final = 4096

HOW_TO_GET_A_KEYRING: Final = (
    "no OS keyring is available, and tradedeck keeps API keys only in one. On Linux install and "
    "unlock a Secret Service (e.g. `apt install gnome-keyring` and `pip install secretstorage`, "
    "or KeePassXC with its Secret Service integration); macOS Keychain and Windows Credential "
    "Locker work out of the box. If you knowingly accept a key file on disk, install "
    "`keyrings.alt` and select it with PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring"
)


class KeyStoreError(RuntimeError):
    """The keyring refused or failed; the message never contains a secret."""


class KeyringUnavailable(KeyStoreError):
    """No usable keyring backend: keys cannot be stored or read, and are not stored elsewhere."""


# ---------------------------------------------------------------------------- redaction


class _Secrets:
    """The secrets seen by this process, longest first so a key inside another is masked whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        with self._lock:
            for v in values:
                if v and len(v) >= _MIN_SECRET and v not in self._values:
                    self._values.add(v)
                    self._pattern = None

    def redact(self, text: str) -> str:
        with self._lock:
            if not self._values:
                return text
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        return pattern.sub(MASK, text)


_SECRETS = _Secrets()


def remember_secret(*values: str | None) -> None:
    """Mask these strings from now on in everything ``redact`` sees (keys typed in a dialog)."""
    _SECRETS.add(*values)


def redact(text: object) -> str:
    """``str(text)`` with every known secret replaced by ``***``."""
    return _SECRETS.redact(str(text))


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message, the traceback and the stack of a record, with
    every known secret masked. The record is rewritten in place (``args`` folded into ``msg``),
    so every formatter after it sees the masked text only."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown, masked
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # the formatter would otherwise format exc_info again; exc_text is what it prints
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one ``RedactingFilter`` to every handler of ``logger`` (the root logger by default).

    Filters on a logger do not see records propagated from child loggers; filters on handlers
    do, so this goes on the handlers. Call it after the handlers are set up; calling it twice
    adds nothing twice."""
    target = logger if logger is not None else logging.getLogger()
    found = next(
        (f for h in target.handlers for f in h.filters if isinstance(f, RedactingFilter)), None
    )
    flt = found if found is not None else RedactingFilter()
    for handler in target.handlers:
        if flt not in handler.filters:
            handler.addFilter(flt)
    return flt


# ---------------------------------------------------------------------------- credentials


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{what} must be 1-40 characters of a-z, 0-9, '_', '.', '-' "
            f"(starting with a letter or digit), not {str(value)[:40]!r}"
        )
    return value


def _check_secret(what: str, value: object, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise ValueError(f"{what} is empty")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    if len(value) > _MAX_SECRET_LEN or value != value.strip() or not value.isprintable():
        # the value itself is never quoted: it is (a mistyped) secret
        raise ValueError(
            f"{what} must be printable text without surrounding spaces, at most "
            f"{_MAX_SECRET_LEN} characters"
        )
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One account's API credentials. Its repr and str never show a secret."""

    venue: str
    account: str = "default"
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str = field(default="", repr=False)  # OKX and others call it a passphrase

    def __post_init__(self) -> None:
        _check_name("venue", self.venue)
        _check_name("account", self.account)
        # remembered before they are checked: an error about them must not print them either
        for v in (self.api_key, self.secret, self.password):
            if isinstance(v, str):
                remember_secret(v)
        _check_secret("API key", self.api_key, required=True)
        _check_secret("secret", self.secret, required=True)
        _check_secret("passphrase", self.password, required=False)

    def __repr__(self) -> str:
        tail = self.api_key[-4:] if len(self.api_key) >= 16 else ""
        return (
            f"Credentials(venue={self.venue!r}, account={self.account!r}, "
            f"api_key='{MASK}{tail}', secret='{MASK}'"
            + (f", password='{MASK}'" if self.password else "")
            + ")"
        )

    __str__ = __repr__

    def ccxt_config(self) -> dict[str, str]:
        """The keys as ccxt's exchange constructor takes them."""
        cfg = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            cfg["password"] = self.password
        return cfg


def _username(venue: str, account: str) -> str:
    return f"{_check_name('venue', venue)}:{_check_name('account', account)}"


class KeyStore:
    """Store, load and delete ``Credentials`` in the OS keyring.

    ``backend`` is a ``keyring.backend.KeyringBackend`` (default: whatever ``keyring`` selects
    for this machine). A backend that cannot work (``keyring.backends.fail.Keyring``, priority
    <= 0, ``NoKeyringError``) raises ``KeyringUnavailable``; there is no fallback."""

    def __init__(self, backend: Any = None, *, service: str = SERVICE) -> None:
        self._backend = backend
        self.service = service

    def _keyring(self) -> Any:
        import keyring
        import keyring.backends.fail

        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if isinstance(backend, keyring.backends.fail.Keyring):
            raise KeyringUnavailable(HOW_TO_GET_A_KEYRING)
        try:
            usable = float(backend.priority) > 0
        except Exception:  # a backend whose priority itself fails is not usable either
            usable = False
        chained = type(backend).__name__ == "ChainerBackend" and not getattr(
            backend, "backends", None
        )
        if not usable or chained:
            raise KeyringUnavailable(HOW_TO_GET_A_KEYRING)
        return backend

    def available(self) -> bool:
        try:
            self._keyring()
        except KeyringUnavailable:
            return False
        return True

    def _call(self, what: str, fn: Any, *args: str) -> Any:
        import keyring.errors

        try:
            return fn(*args)
        except keyring.errors.NoKeyringError:
            raise KeyringUnavailable(HOW_TO_GET_A_KEYRING) from None
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(f"the keyring could not {what}: {redact(exc)}") from None

    def store(self, creds: Credentials) -> None:
        backend = self._keyring()
        blob = json.dumps(
            {"api_key": creds.api_key, "secret": creds.secret, "password": creds.password}
        )
        remember_secret(blob)
        user = _username(creds.venue, creds.account)
        self._call("store the keys", backend.set_password, self.service, user, blob)

    def load(self, venue: str, account: str = "default") -> Credentials | None:
        """The stored credentials, or None when this venue/account has none."""
        backend = self._keyring()
        user = _username(venue, account)
        blob = self._call("read the keys", backend.get_password, self.service, user)
        if blob is None:
            return None
        remember_secret(blob)
        try:
            d = json.loads(blob)
            return Credentials(
                venue=venue,
                account=account,
                api_key=d["api_key"],
                secret=d["secret"],
                password=d.get("password", ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyStoreError(
                f"the keyring entry {self.service}/{user} is not a tradedeck credential; "
                "delete it and enter the keys again"
            ) from None

    def delete(self, venue: str, account: str = "default") -> bool:
        """Remove the entry; False if there was none."""
        import keyring.errors

        backend = self._keyring()
        user = _username(venue, account)
        try:
            backend.delete_password(self.service, user)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.NoKeyringError:
            raise KeyringUnavailable(HOW_TO_GET_A_KEYRING) from None
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(f"the keyring could not delete the keys: {redact(exc)}") from None
        return True
