"""Money and rounding (docs/engine.md): integer base units, exact decimal parsing, and the two
named rounding helpers whose direction is always in favour of the pool or protocol."""

from __future__ import annotations

import pytest

from backstop.domain.errors import InvalidAmount
from backstop.domain.money import (
    amount_for_value_down,
    amount_for_value_up,
    bps_down,
    bps_up,
    convert_down,
    convert_up,
    format_units,
    mul_div_down,
    mul_div_up,
    parse_units,
    split_pro_rata,
)


@pytest.mark.parametrize(
    ("a", "b", "d", "down", "up"),
    [
        (10, 1, 3, 3, 4),  # 3.33…
        (2, 1, 3, 0, 1),  # 0.66…
        (9, 1, 3, 3, 3),  # exact: both agree
        (0, 5, 7, 0, 0),
        (10**18, 2, 3, 666666666666666666, 666666666666666667),
        (10**40 + 1, 10**40 + 1, 10**40, 10**40 + 2, 10**40 + 3),  # no float overflow or precision loss
    ],
)
def test_mul_div_rounds_down_and_up(a: int, b: int, d: int, down: int, up: int) -> None:
    assert mul_div_down(a, b, d) == down
    assert mul_div_up(a, b, d) == up
    assert 0 <= up - down <= 1


def test_mul_div_refuses_a_non_positive_divisor() -> None:
    with pytest.raises(ZeroDivisionError):
        mul_div_down(1, 1, 0)
    with pytest.raises(ZeroDivisionError):
        mul_div_up(1, 1, -3)


def test_bps_helpers_round_a_payout_down_and_a_charge_up() -> None:
    # 3 bps of 1,001 units is 0.3003 units: a payout gives 0, a fee takes 1.
    assert bps_down(1_001, 3) == 0
    assert bps_up(1_001, 3) == 1
    assert bps_down(10_000, 2_500) == bps_up(10_000, 2_500) == 2_500


def test_value_conversions_favour_the_protocol() -> None:
    # 1 ETH = 3 USD (e18): USD 1 buys 0.333… ETH — the seller gets the floor, the buyer pays the ceiling.
    assert amount_for_value_down(10**18, 3 * 10**18, 18) == 333333333333333333
    assert amount_for_value_up(10**18, 3 * 10**18, 18) == 333333333333333334
    # 1 ETH (18 dp) at 2000 into USDC (6 dp) at 1.0: exactly 2,000 USDC either way.
    assert convert_down(10**18, 2000 * 10**18, 18, 10**18, 6) == 2_000 * 10**6
    # 1 base unit of USDC into ETH at 3 USD: 1e-6 / 3 ETH = 333,333,333,333.33 wei.
    assert convert_down(1, 10**18, 6, 3 * 10**18, 18) == 333_333_333_333
    assert convert_up(1, 10**18, 6, 3 * 10**18, 18) == 333_333_333_334


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("1.6", 18, 1_600_000_000_000_000_000),
        ("37.5", 6, 37_500_000),
        ("0.000001", 6, 1),
        (".5", 6, 500_000),
        ("7.", 2, 700),
        (12, 6, 12_000_000),
        ("-2.25", 2, -225),
        ("100", 0, 100),
    ],
)
def test_parse_units_is_exact(text: str | int, decimals: int, units: int) -> None:
    assert parse_units(text, decimals, "amount") == units
    assert parse_units(format_units(units, decimals), decimals, "amount") == units


@pytest.mark.parametrize(
    ("text", "decimals"),
    [
        ("0.0000001", 6),  # seven decimals on a 6-decimal asset: an error, not a rounding (docs/engine.md)
        ("1.5", 0),
        ("1e18", 18),
        ("1,5", 6),
        ("", 6),
        ("abc", 6),
        (".", 6),
        (1.5, 6),  # floats cannot carry an exact decimal
        (True, 6),
    ],
)
def test_parse_units_refuses_with_a_typed_error_naming_the_field(text: object, decimals: int) -> None:
    with pytest.raises(InvalidAmount) as err:
        parse_units(text, decimals, "collateral.ETH")  # type: ignore[arg-type]
    assert err.value.field == "collateral.ETH"
    assert "collateral.ETH" in err.value.message


def test_too_many_decimals_message_says_how_many() -> None:
    with pytest.raises(InvalidAmount, match="7 decimals, the asset has only 6"):
        parse_units("1.0000001", 6, "amount")


def test_format_units() -> None:
    assert format_units(37_500_000_000_000_000_000, 18) == "37.5"
    assert format_units(-1, 6) == "-0.000001"
    assert format_units(5, 0) == "5"


def test_split_pro_rata_is_exact_and_deterministic() -> None:
    # 100 over weights 1:1:1 → 33 each, the one unit left goes to the first name (ties by name).
    assert split_pro_rata(100, [("b", 1), ("a", 1), ("c", 1)]) == {"a": 34, "b": 33, "c": 33}
    # 10 over 1:2:3 → 1.67, 3.33, 5 → floors 1, 3, 5 and the last unit to the largest remainder (a: .67).
    assert split_pro_rata(10, [("a", 1), ("b", 2), ("c", 3)]) == {"a": 2, "b": 3, "c": 5}
    assert split_pro_rata(0, [("a", 1)]) == {}
