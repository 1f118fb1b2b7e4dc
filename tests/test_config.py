"""Per-part configs composed into ``EngineConfig``: each part frozen and validated, the flat
keywords still build and read back, fees held in one unit (a Decimal fraction), and the risk
part's limits are where a new account starts."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from engine import ConfigError, Engine, EngineConfig
from engine.config import JournalConfig, PaperBrokerConfig, RiskConfig, VenueConfig
from engine.matching import FeeSchedule
from engine.risk.limits import RiskLimits


def test_flat_keywords_build_the_parts_and_read_back(tmp_path: Path) -> None:
    cfg = EngineConfig(
        data_dir=tmp_path,
        seed=3,
        latency_ms=Decimal(5),
        sim_rate=2.0,
        book_depth=10,
        venue="sim",
        symbols="BTC/USDT, ETH/USDT",
        paper_cash=Decimal(500),
    )
    assert cfg.venue_config == VenueConfig(
        venue="sim",
        symbols=("BTC/USDT", "ETH/USDT"),
        seed=3,
        sim_rate=2.0,
        market_data_dir=cfg.market_data_dir,
    )
    assert cfg.journal == JournalConfig(data_dir=tmp_path)
    assert cfg.broker.latency_ns == 5_000_000
    assert cfg.broker.paper_cash == Decimal(500)
    assert (cfg.data_dir, cfg.seed, cfg.sim_rate, cfg.book_depth) == (tmp_path, 3, 2.0, 10)
    assert cfg.symbols == ("BTC/USDT", "ETH/USDT")
    assert cfg.risk == RiskConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.broker.paper_cash = Decimal(1)  # type: ignore[misc]


def test_fees_are_one_unit_a_fraction_of_notional_bps_only_at_the_edge() -> None:
    cfg = EngineConfig(maker_fee_bps=Decimal(2), taker_fee_bps=Decimal("7.5"))
    assert cfg.broker.fees == FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.00075"))
    assert (cfg.maker_fee_bps, cfg.taker_fee_bps) == (Decimal(2), Decimal("7.5"))
    assert EngineConfig().broker.fees == FeeSchedule()  # 0.001 = 10 bps each
    assert EngineConfig().maker_fee_bps == Decimal(10)
    broker = PaperBrokerConfig(fees=FeeSchedule(maker=Decimal(0), taker=Decimal("0.0004")))
    cfg = EngineConfig(broker=broker)
    assert cfg.broker is broker
    assert cfg.taker_fee_bps == Decimal(4)
    # a flat keyword beside a whole part overrides that field of it
    assert EngineConfig(broker=broker, maker_fee_bps=Decimal(1)).broker.fees == FeeSchedule(
        maker=Decimal("0.0001"), taker=Decimal("0.0004")
    )
    assert EngineConfig(broker=broker, latency_ms=Decimal(0)).broker.latency_ns == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"maker_fee_bps": Decimal(-1)}, "maker_fee_bps must be a non-negative"),
        ({"taker_fee_bps": "nan"}, "taker_fee_bps must be a non-negative"),
        ({"taker_fee_bps": Decimal(10_000)}, "fee rate"),
        ({"paper_cash": Decimal(0)}, "paper_cash must be positive"),
        ({"latency_ms": "1e999999"}, "latency_ms"),
        ({"symbols": ("BTC/USDT", "BTC/USDT")}, "listed twice"),
        ({"symbols": ("NOPE/USDT",)}, "unknown symbol"),
        ({"sim_rate": 0.0}, "sim_rate"),
        ({"book_depth": 0}, "book_depth"),
        ({"risk": RiskConfig(limits={"max_open_orders": 5})}, None),
        ({"broker": "cheap"}, "broker must be a PaperBrokerConfig"),
    ],
)
def test_each_part_validates_its_fields(kwargs: dict[str, object], match: str | None) -> None:
    if match is None:
        EngineConfig(**kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=match):
        EngineConfig(**kwargs)  # type: ignore[arg-type]


def test_risk_limits_are_validated_against_the_catalogue() -> None:
    assert RiskConfig(limits={"max_open_orders": 5}).limits.max_open_orders == 5
    with pytest.raises(ConfigError):
        RiskConfig(limits={"max_leverage": "50"})  # above the hard ceiling
    with pytest.raises(ConfigError):
        RiskConfig(limits={"max_open_orders": "1e999999"})
    with pytest.raises(ConfigError):
        RiskConfig(limits="tight")  # type: ignore[arg-type]


def test_a_new_account_starts_with_the_risk_parts_limits(tmp_path: Path) -> None:
    limits = RiskLimits(max_open_orders=7)
    cfg = EngineConfig(data_dir=tmp_path, risk=RiskConfig(limits=limits), market_data_dir=None)
    eng = Engine(cfg).start()
    try:
        assert eng.snapshot().risk.limits["max_open_orders"] == 7
    finally:
        eng.stop()
