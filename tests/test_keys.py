"""API keys only in the OS keyring, never in a log, an exception or a repr; live mode asked twice.

The keyring is a real ``keyring.backend.KeyringBackend`` subclass holding entries in a dict (what
a Secret Service would hold), registered with ``keyring.set_keyring`` for the test; the
no-backend case is keyring's own ``keyring.backends.fail.Keyring``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest

from engine.venues.ccxt.keys import (
    Credentials,
    KeyringUnavailable,
    KeyStore,
    RedactingFilter,
    install_log_redaction,
    redact,
)
from engine.venues.ccxt.live_mode import LiveModeGate

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A working keyring backend that keeps its entries in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.writes = 0

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.writes += 1
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)


def _creds(account: str = "default") -> Credentials:
    return Credentials(venue="binance", account=account, api_key=API_KEY, secret=SECRET)


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


# ---------------------------------------------------------------------------- keyring


def test_store_load_delete_per_venue_and_account(memory_keyring: MemoryKeyring) -> None:
    store = KeyStore()
    store.store(_creds())
    store.store(Credentials(venue="binance", account="sub1", api_key="k" * 20, secret="s" * 20))
    store.store(Credentials(venue="okx", api_key="o" * 20, secret="p" * 20, password="passphrase1"))
    assert set(memory_keyring.entries) == {
        ("tradedeck", "binance:default"),
        ("tradedeck", "binance:sub1"),
        ("tradedeck", "okx:default"),
    }
    assert store.load("binance") == _creds()
    sub = store.load("binance", "sub1")
    assert sub is not None
    assert sub.api_key == "k" * 20
    okx = store.load("okx")
    assert okx is not None
    assert okx.ccxt_config() == {"apiKey": "o" * 20, "secret": "p" * 20, "password": "passphrase1"}
    assert store.load("bybit") is None
    assert store.delete("binance", "sub1") is True
    assert store.delete("binance", "sub1") is False
    assert store.load("binance", "sub1") is None
    assert store.load("binance") == _creds()  # the other account is untouched


def test_no_backend_refuses_with_how_to_get_one_and_writes_nothing(
    no_keyring: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    store = KeyStore()
    assert store.available() is False
    for call in (
        lambda: store.store(_creds()),
        lambda: store.load("binance"),
        lambda: store.delete("binance"),
    ):
        with pytest.raises(KeyringUnavailable) as info:
            call()
        text = str(info.value)
        assert "gnome-keyring" in text
        assert "secretstorage" in text
        assert "keyrings.alt" in text
        assert API_KEY not in text
        assert SECRET not in text
    assert _files_containing(tmp_path, API_KEY) == []
    assert _files_containing(tmp_path, SECRET) == []


def test_no_keyring_error_from_a_backend_is_the_same_refusal(memory_keyring: MemoryKeyring) -> None:
    class Broken(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise keyring.errors.NoKeyringError("no backend")

    with pytest.raises(KeyringUnavailable, match="gnome-keyring"):
        KeyStore(Broken()).store(_creds())


def test_a_zero_priority_backend_is_not_used(memory_keyring: MemoryKeyring) -> None:
    class Unusable(MemoryKeyring):
        priority = 0  # type: ignore[assignment]

    backend = Unusable()
    with pytest.raises(KeyringUnavailable):
        KeyStore(backend).store(_creds())
    assert backend.writes == 0


def test_a_foreign_entry_is_reported_without_its_content(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[("tradedeck", "binance:default")] = f"not json {SECRET}"
    with pytest.raises(Exception, match="not a tradedeck credential") as info:
        KeyStore().load("binance")
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("venue", ["", "Binance", "bin ance", "../x", "a" * 41, None, 7])
def test_bad_venue_names_are_refused(venue: object) -> None:
    with pytest.raises(ValueError, match="venue"):
        Credentials(venue=venue, api_key=API_KEY, secret=SECRET)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", " padded ", "line\nbreak", None])
def test_bad_secrets_are_refused_without_being_quoted(bad: object) -> None:
    with pytest.raises(ValueError, match="secret") as info:
        Credentials(venue="binance", api_key=API_KEY, secret=bad)  # type: ignore[arg-type]
    if isinstance(bad, str) and bad.strip():
        assert bad.strip() not in str(info.value)


# ---------------------------------------------------------------------------- redaction


def test_repr_and_str_never_show_a_secret() -> None:
    creds = Credentials(venue="okx", api_key=API_KEY, secret=SECRET, password="Passphrase9")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert API_KEY not in text
        assert SECRET not in text
        assert "Passphrase9" not in text
        assert "okx" in text


def test_a_key_never_appears_in_a_log_record(memory_keyring: MemoryKeyring) -> None:
    KeyStore().store(_creds())
    loaded = KeyStore().load("binance")
    assert loaded is not None
    root = logging.getLogger("test_keys_root")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logger = logging.getLogger("test_keys_root.child")  # propagated, as app loggers are
    flt = install_log_redaction(root)
    assert install_log_redaction(root) is flt  # idempotent
    assert handler.filters.count(flt) == 1
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(RedactingFilter())
    root.addHandler(keep)
    try:
        logger.info("connect %s with %r", "binance", loaded)
        logger.warning("command: %s", {"apiKey": loaded.api_key, "secret": loaded.secret})
        logger.info(f"raw f-string {loaded.api_key}/{loaded.secret}")
        try:
            raise RuntimeError(f"exchange said: invalid key {API_KEY} signature for {SECRET}")
        except RuntimeError:
            logger.exception("order failed for %s", API_KEY)
        logger.info("stack", stack_info=True, extra={"k": API_KEY})
    finally:
        root.removeHandler(handler)
        root.removeHandler(keep)
    out = stream.getvalue()
    assert "exchange said" in out  # the traceback is there, masked
    assert "***" in out
    assert API_KEY not in out
    assert SECRET not in out
    assert len(records) == 5
    for record in records:
        formatted = logging.Formatter().format(record)
        assert API_KEY not in formatted
        assert SECRET not in formatted
        assert API_KEY not in record.getMessage()


def test_redact_masks_exception_text_and_command_reprs() -> None:
    creds = _creds()
    exc = ValueError(f"binance POST /api/v3/order X-MBX-APIKEY={creds.api_key}&secret={SECRET}")
    text = redact(exc)
    assert API_KEY not in text
    assert SECRET not in text
    assert "X-MBX-APIKEY=***" in text
    assert redact("nothing secret here") == "nothing secret here"


# ---------------------------------------------------------------------------- live mode


def test_live_needs_the_switch_and_the_exact_phrase() -> None:
    gate = LiveModeGate("binance")
    assert gate.armed is False
    decision = gate.decide(True, "LIVE binance")
    assert decision.allowed is True
    assert gate.armed is True
    gate.disarm()
    assert gate.armed is False


@pytest.mark.parametrize(
    ("switch", "typed", "why"),
    [
        (False, "LIVE binance", "switch"),
        (None, "LIVE binance", "switch"),
        ("true", "LIVE binance", "switch"),
        (1, "LIVE binance", "switch"),
        ("yes", "LIVE binance", "switch"),
        (True, None, "type 'LIVE binance'"),
        (True, "", "exactly"),
        (True, "live binance", "same capitals"),
        (True, "LIVE BINANCE", "same capitals"),
        (True, "Live Binance", "same capitals"),
        (True, " LIVE binance", "extra spaces"),
        (True, "LIVE binance ", "extra spaces"),
        (True, "LIVE  binance", "extra spaces"),
        (True, "LIVE\tbinance", "extra spaces"),
        (True, "LIVE binance\n", "extra spaces"),
        (True, "LIVE bybit", "this venue"),
        (True, "LIVE okx", "this venue"),
        (True, "LIVE binanceusdm", "this venue"),
        (True, "LIVE", "this venue"),
        (True, "binance", "exactly"),
        (True, "yes", "exactly"),
        (True, 1, "not a int"),
        (True, 0, "not a int"),
        (True, 1.0, "not a float"),
        (True, True, "not a bool"),
        (True, b"LIVE binance", "not a bytes"),
        (True, ["LIVE binance"], "not a list"),
        (True, "LIVE binance" * 100, "is not"),
    ],
)
def test_anything_else_is_refused_with_the_reason(switch: object, typed: object, why: str) -> None:
    gate = LiveModeGate("binance")
    gate.decide(True, "LIVE binance")
    decision = gate.decide(switch, typed)
    assert decision.allowed is False
    assert why in decision.reason
    assert gate.armed is False  # a refused attempt disarms


def test_the_phrase_is_per_venue() -> None:
    assert LiveModeGate("okx").decide(True, "LIVE okx").allowed is True
    assert LiveModeGate("okx").decide(True, "LIVE binance").allowed is False


@pytest.mark.parametrize("venue", ["", "Binance", "a b", None, 3])
def test_a_gate_needs_a_venue_id(venue: object) -> None:
    with pytest.raises(ValueError, match="venue"):
        LiveModeGate(venue)  # type: ignore[arg-type]


def test_arming_persists_nothing(memory_keyring: MemoryKeyring, tmp_path: Path) -> None:
    KeyStore().store(_creds())
    writes = memory_keyring.writes
    snapshot = dict(memory_keyring.entries)
    gate = LiveModeGate("binance")
    assert gate.decide(True, "LIVE binance").allowed
    assert memory_keyring.writes == writes
    assert memory_keyring.entries == snapshot
    assert not hasattr(gate, "__dict__") or not any(
        API_KEY in repr(v) or SECRET in repr(v) for v in vars(gate).values()
    )
    assert LiveModeGate("binance").armed is False  # a new session starts disarmed


def test_the_apps_log_file_masks_keys(memory_keyring: MemoryKeyring, tmp_path: Path) -> None:
    """What ``app.main`` does at start-up: its handlers, then the redaction on each of them."""
    from app.logging_setup import setup_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        log_file = setup_logging("DEBUG", log_dir=tmp_path)
        install_log_redaction()
        creds = KeyStore()
        creds.store(_creds())
        loaded = creds.load("binance")
        assert loaded is not None
        logging.getLogger("engine.venues.ccxt.test").warning(
            "sending %s", {"X-MBX-APIKEY": loaded.api_key, "secret": loaded.secret}
        )
        for h in root.handlers:
            h.flush()
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
    assert log_file is not None
    text = log_file.read_text()
    assert "sending" in text
    assert "'X-MBX-APIKEY': '***'" in text
    assert API_KEY not in text
    assert SECRET not in text
