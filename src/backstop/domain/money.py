"""Integer money and the only rounding helpers the engine may use.

Every division in the domain goes through `mul_div_down` or `mul_div_up` so that the
direction of rounding is a visible, reviewable choice: it always favours the pool or
protocol (fewer shares minted, fewer assets paid out, more debt charged).
"""

from __future__ import annotations

from .errors import InvalidAmount

BPS = 10_000
"""Basis points in one whole (100%)."""

WAD = 10**18
"""Fixed-point scale of prices (`price_e18`) and of the stability pool's product P."""

SECONDS_PER_YEAR = 365 * 24 * 3600
"""Rates are per 365-day year (docs/engine.md, "Money and rounding")."""


def mul_div_down(a: int, b: int, d: int) -> int:
    """floor(a * b / d) for non-negative a, b and positive d."""
    if d <= 0:
        raise ZeroDivisionError("mul_div_down: divisor must be positive")
    return (a * b) // d


def mul_div_up(a: int, b: int, d: int) -> int:
    """ceil(a * b / d) for non-negative a, b and positive d."""
    if d <= 0:
        raise ZeroDivisionError("mul_div_up: divisor must be positive")
    return -((-(a * b)) // d)


def bps_down(amount: int, bps: int) -> int:
    """`amount * bps / 10000`, rounded down (a payout or a share given away)."""
    return mul_div_down(amount, bps, BPS)


def bps_up(amount: int, bps: int) -> int:
    """`amount * bps / 10000`, rounded up (a charge or a fee taken)."""
    return mul_div_up(amount, bps, BPS)


def value_down(amount: int, price_e18: int, decimals: int) -> int:
    """Quote value (scaled 1e18 per whole quote unit) of `amount` base units, rounded down."""
    return mul_div_down(amount, price_e18, 10**decimals)


def value_up(amount: int, price_e18: int, decimals: int) -> int:
    """Quote value of `amount` base units, rounded up."""
    return mul_div_up(amount, price_e18, 10**decimals)


def amount_for_value_down(value_e18: int, price_e18: int, decimals: int) -> int:
    """Base units of an asset worth at most `value_e18`: what a seller gives for a value."""
    return mul_div_down(value_e18, 10**decimals, price_e18)


def amount_for_value_up(value_e18: int, price_e18: int, decimals: int) -> int:
    """Base units of an asset worth at least `value_e18`: what a buyer must hand over."""
    return mul_div_up(value_e18, 10**decimals, price_e18)


def convert_down(amount: int, from_price_e18: int, from_decimals: int, to_price_e18: int, to_decimals: int) -> int:
    """Units of the target asset that `amount` of the source buys at oracle prices, rounded down."""
    return mul_div_down(amount * from_price_e18, 10**to_decimals, to_price_e18 * 10**from_decimals)


def convert_up(amount: int, from_price_e18: int, from_decimals: int, to_price_e18: int, to_decimals: int) -> int:
    """Units of the target asset worth `amount` of the source at oracle prices, rounded up.

    Used for what a payer must hand over to cover a value (it pays the rounding).
    """
    return mul_div_up(amount * from_price_e18, 10**to_decimals, to_price_e18 * 10**from_decimals)


def parse_units(text: str | int, decimals: int, field: str) -> int:
    """Parse a whole-token decimal (`"1.6"`) into base units, exactly.

    More fractional digits than the asset has is an error, never a rounding (docs/engine.md, "Money and rounding").
    Floats are refused because they cannot carry an exact decimal.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidAmount(field, f"{field}: amount must be a decimal string or integer, got {text!r}")
    s = str(text).strip()
    if not s:
        raise InvalidAmount(field, f"{field}: empty amount")
    negative = s.startswith("-")
    if negative or s.startswith("+"):
        s = s[1:]
    if "e" in s.lower():
        raise InvalidAmount(field, f"{field}: exponent notation is not accepted ({text!r})")
    whole, _, frac = s.partition(".")
    if (whole and not whole.isdigit()) or (frac and not frac.isdigit()) or not (whole or frac):
        raise InvalidAmount(field, f"{field}: not a decimal number: {text!r}")
    if len(frac) > decimals:
        raise InvalidAmount(field, f"{field}: {text!r} has {len(frac)} decimals, the asset has only {decimals}")
    units: int = int(whole or "0") * 10**decimals + int((frac or "0").ljust(decimals, "0"))
    return -units if negative else units


def format_units(units: int, decimals: int) -> str:
    """Exact whole-token decimal string of `units` base units (`37500000000000000000` -> `"37.5"`)."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    whole, frac = divmod(units, 10**decimals)
    if frac == 0 or decimals == 0:
        return f"{sign}{whole}"
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{frac_s}"


def split_pro_rata(amount: int, weights: list[tuple[str, int]]) -> dict[str, int]:
    """Split `amount` in proportion to `weights`, exactly: Σ parts == amount.

    Each part rounds down; the units left over go one each to the largest remainders (ties
    by name), so the split is deterministic and never creates or loses a unit.
    """
    total = sum(w for _, w in weights)
    if amount <= 0 or total <= 0:
        return {}
    parts = {k: mul_div_down(w, amount, total) for k, w in weights}
    short = amount - sum(parts.values())
    order = sorted(weights, key=lambda kw: (-(kw[1] * amount % total), kw[0]))
    for k, _ in order[:short]:
        parts[k] += 1
    return parts
