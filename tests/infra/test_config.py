"""The settings door: defaults, every validation rule, context overrides, and the values functions receive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loglake.errors import ConfigError
from stacks.config import CONTEXT_KEY, config_from_context, load_config

SHOP = {"services": ["shop", "search"], "streams": [{"name": "shop-logs", "default_service": "shop"}]}


def with_(**sections: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(SHOP)), **sections}


def test_defaults_match_the_issue() -> None:
    cfg = load_config({})
    assert cfg.lambda_.architecture == "arm64"
    assert cfg.retention.expire_after_days == 2557  # 7 years, leap days included
    assert (cfg.retention.ia_after_days, cfg.retention.glacier_after_days) == (30, 90)
    assert cfg.compaction.schedule == "rate(1 hour)"
    assert cfg.alarms.error_rate_percent == 1.0 and cfg.alarms.error_rate_minutes == 3
    assert cfg.alarms.ip_requests_per_minute == 1000
    assert cfg.object_lock.enabled is False
    assert cfg.database == "loglake" and cfg.workgroup == "loglake"


def test_cdk_json_holds_a_valid_configuration(project_root: Any) -> None:
    context = json.loads((project_root / "cdk.json").read_text())["context"]
    assert CONTEXT_KEY in context
    cfg = config_from_context(context)
    assert cfg.streams and cfg.services


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (with_(retention={"ia_after_days": 29}), r"retention\.ia_after_days is 29; it must be at least 30"),
        (
            with_(retention={"ia_after_days": 60, "glacier_after_days": 45}),
            r"glacier_after_days \(45\) comes before retention\.ia_after_days \(60\).*set it to 90 or more",
        ),
        (
            with_(retention={"ia_after_days": 30, "glacier_after_days": 40}),
            r"glacier_after_days \(40\) comes too soon after",
        ),
        (
            with_(retention={"glacier_after_days": 90, "expire_after_days": 100}),
            r"expire_after_days \(100\) deletes objects before their Glacier minimum of 90 days; "
            r"set it to 180",
        ),
        (
            with_(sampling={"default": {"rate": 1.5}}),
            r"sampling\.default\.rate is 1\.5; it must be between 0 and 1",
        ),
        (
            with_(sampling={"services": {"shop": {"rate": -0.1}}}),
            r"sampling\.services\.shop\.rate is -0\.1; it must be between 0 and 1",
        ),
        (
            with_(sampling={"services": {"checkout": {"rate": 0.5}}}),
            r"sampling\.services\.checkout: 'checkout' is not a declared service \['shop', 'search'\]",
        ),
        (
            with_(alarms={"services": {"ghost": {"p99_latency_ms": 10}}}),
            r"alarms\.services\.ghost: 'ghost' is not a declared service",
        ),
        (
            with_(scrubbing={"services": {"ghost": {"truncate_ip": True}}}),
            r"scrubbing\.services\.ghost: 'ghost' is not a declared service",
        ),
        (
            {"services": ["shop"], "streams": [{"name": "s", "default_service": "billing"}]},
            r"streams\[0\]\.default_service 'billing' is not in services \['shop'\]; add it to services",
        ),
        (with_(retension={}), r"retension is not a setting; did you mean 'retention'\?"),
        (
            with_(retention={"raw_dayz": 3}),
            r"retention\.raw_dayz is not a setting; did you mean 'raw_days'\?",
        ),
        (with_(lambda_={"architecture": "arm"}), r"lambda_ is not a setting; did you mean 'lambda'\?"),
        (
            with_(**{"lambda": {"architecture": "arm"}}),
            r"lambda\.architecture 'arm' is not one of arm64, x86_64",
        ),
        (
            with_(**{"lambda": {"transformer": {"timeout_seconds": 600}}}),
            r"lambda\.transformer\.timeout_seconds \(600\) exceeds the 300 s Firehose waits",
        ),
        (
            with_(**{"lambda": {"converter": {"memory_mb": 64}}}),
            r"lambda\.converter\.memory_mb is 64; it must be between 128 and 10240",
        ),
        (with_(notifications={"emails": ["oncall"]}), r"notifications\.emails\[0\] 'oncall' is not valid"),
        (
            with_(notifications={"https": ["http://pager.example.com/hook"]}),
            r"notifications\.https\[0\] 'http://pager\.example\.com/hook' is not valid; use an https:// URL",
        ),
        (
            with_(scrubbing={"patterns": [{"name": "card", "regex": "([0-9", "action": "redact"}]}),
            r"scrubbing\.patterns\[0\]\.regex: does not compile",
        ),
        (
            with_(scrubbing={"patterns": [{"name": "card", "regex": "[0-9]{16}", "action": "mask"}]}),
            r"scrubbing\.patterns\[0\]\.action 'mask' is not one of redact, hash",
        ),
        (
            with_(scrubbing={"patterns": [{"regex": "x", "action": "hash"}]}),
            r"patterns\[0\]\.name is required",
        ),
        (
            with_(buffering={"interval_seconds": 900}, alarms={"firehose_freshness_seconds": 900}),
            r"firehose_freshness_seconds \(900\) must exceed buffering\.interval_seconds \(900\)",
        ),
        (
            with_(buffering={"processor_size_mb": 5}),
            r"buffering\.processor_size_mb is 5; it must be between 0\.2",
        ),
        (with_(services=[]), r"services must not be empty"),
        (with_(services=["shop", "bad name"]), r"services\[1\]: service_name 'bad name' is not a valid name"),
        (with_(services=["shop", "shop"]), r"services\[1\] 'shop' is listed twice"),
        (
            with_(streams=[{"name": "a", "default_service": "shop"}, {"name": "a", "default_service": "shop"}]),
            r"streams\[1\]\.name 'a' is used twice",
        ),
        (with_(name="Loglake"), r"name 'Loglake' is not valid; use 3-24 lowercase letters"),
        (with_(compaction={"schedule": "hourly"}), r"compaction\.schedule 'hourly' is not valid"),
        (
            with_(athena={"bytes_scanned_cutoff_gb": 0.001}),
            r"bytes_scanned_cutoff_gb is 0\.001; it must be at least",
        ),
        (with_(retention={"log_days": 45}), r"retention\.log_days 45 is not one of 1, 3, 5"),
        (with_(retention={"raw_days": "7"}), r"retention\.raw_days must be a whole number, got '7'"),
        (with_(object_lock={"enabled": "yes"}), r"object_lock\.enabled must be true or false"),
        (
            with_(object_lock={"enabled": True, "years": 10}),
            r"object_lock\.years \(10 = 3650 days\) outlasts retention\.expire_after_days \(2557\)",
        ),
        (
            with_(alarms={"error_rate_percent": 0}),
            r"alarms\.error_rate_percent is 0; it must be greater than 0",
        ),
    ],
)
def test_every_bad_value_is_reported_with_its_path_and_a_fix(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(raw)


def test_all_problems_are_reported_at_once() -> None:
    raw = with_(retention={"ia_after_days": 10}, sampling={"default": {"rate": 2}}, notifications={"emails": ["x"]})
    with pytest.raises(ConfigError) as caught:
        load_config(raw)
    text = str(caught.value)
    assert text.startswith("3 invalid loglake setting(s)")
    assert "retention.ia_after_days" in text and "sampling.default.rate" in text and "notifications.emails" in text


def test_per_service_settings_inherit_the_defaults() -> None:
    cfg = load_config(
        with_(
            sampling={"default": {"rate": 0.1, "slow_ms": 800}, "services": {"search": {"rate": 0.5}}},
            scrubbing={"truncate_ip": True, "services": {"search": {"truncate_ip": False}}},
            alarms={"p99_latency_ms": 900, "services": {"search": {"p99_latency_ms": 250}}},
        )
    )
    assert cfg.sampling_env() == {
        "default": {"rate": 0.1, "slow_ms": 800.0},
        "services": {
            "shop": {"rate": 0.1, "slow_ms": 800.0, "truncate_ip": True},
            "search": {"rate": 0.5, "slow_ms": 800.0, "truncate_ip": False},
        },
    }
    assert cfg.alarms.p99_threshold_for("shop") == 900
    assert cfg.alarms.p99_threshold_for("search") == 250


def test_partial_function_sizing_keeps_the_other_default() -> None:
    cfg = load_config(with_(**{"lambda": {"converter": {"memory_mb": 4096}}}))
    assert cfg.lambda_.converter.memory_mb == 4096
    assert cfg.lambda_.converter.timeout_seconds == 300


def test_null_skips_a_storage_class() -> None:
    cfg = load_config(with_(retention={"ia_after_days": None, "glacier_after_days": 0, "expire_after_days": 90}))
    assert cfg.retention.ia_after_days is None and cfg.retention.glacier_after_days == 0


def test_scrub_env_is_the_extra_rules_contract() -> None:
    cfg = load_config(
        with_(
            scrubbing={
                "secret_params": ["token"],
                "patterns": [{"name": "card", "regex": r"\d{16}", "action": "hash"}],
            }
        )
    )
    assert cfg.scrub_env() == {
        "secret_params": ["token"],
        "patterns": [{"name": "card", "regex": r"\d{16}", "action": "hash"}],
    }


def test_settings_are_frozen() -> None:
    cfg = load_config({})
    with pytest.raises(AttributeError):
        cfg.retention.raw_days = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.sampling.services["web"] = None  # type: ignore[index]


class TestContext:
    """How ``cdk synth -c`` reaches the settings: everything arrives as text."""

    def test_dotted_overrides_are_read_as_json(self) -> None:
        context = {
            CONTEXT_KEY: SHOP,
            "loglake.retention.raw_days": "3",
            "loglake.services": '["shop", "search", "cart"]',
            "loglake.sampling.services.cart.rate": "0.25",
            "loglake.object_lock.enabled": "false",
            "loglake.streams": '[{"name": "cart-logs", "default_service": "cart"}]',
        }
        cfg = config_from_context(context)
        assert cfg.retention.raw_days == 3
        assert cfg.services == ("shop", "search", "cart")
        assert cfg.sampling.rule_for("cart").rate == 0.25
        assert cfg.streams[0].name == "cart-logs"

    def test_plain_text_overrides_stay_text(self) -> None:
        cfg = config_from_context({CONTEXT_KEY: SHOP, "loglake.name": "lake-prod"})
        assert cfg.name == "lake-prod" and cfg.database == "lake_prod"

    def test_the_whole_key_may_be_a_json_string(self) -> None:
        cfg = config_from_context({CONTEXT_KEY: json.dumps(SHOP)})
        assert cfg.streams[0].name == "shop-logs"

    def test_a_bad_json_string_says_so(self) -> None:
        with pytest.raises(ConfigError, match="context 'loglake' is not valid JSON"):
            config_from_context({CONTEXT_KEY: "{services: shop}"})

    def test_an_override_through_a_value_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="'services' is a value, not a section"):
            config_from_context({CONTEXT_KEY: SHOP, "loglake.services.x": "1"})

    def test_overrides_are_validated_too(self) -> None:
        with pytest.raises(ConfigError, match=r"retention\.raw_days is 0; it must be at least 1"):
            config_from_context({CONTEXT_KEY: SHOP, "loglake.retention.raw_days": "0"})
