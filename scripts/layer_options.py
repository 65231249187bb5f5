"""Print every layer kind's options from the registry, as the markdown table in
docs/scenario-format.md ("Every option, by kind"). The registry is the one place a kind's options
are declared; this keeps the doc from drifting (tests/test_layer_options_doc.py compares them)."""

from __future__ import annotations

import dataclasses

from backstop.domain.layers import spec
from backstop.domain.layers.registry import KINDS

UNITS = {
    spec.AMOUNT: "whole tokens of `asset`",
    spec.BPS_RATE: "bps",
    spec.SECONDS: "seconds",
    spec.POSITIVE: "positive integer",
    spec.LAYER_REF: "layer id",
    spec.ACCOUNT: "account",
    spec.ASSET: "asset symbol",
    spec.FLAG: "true / false",
    spec.CHOICE: "one of the listed values",
}


def table() -> str:
    rows = ["| kind | option | unit | default |", "|---|---|---|---|"]
    for name, kind in KINDS.items():
        for f in kind.config.declared():
            unit = UNITS.get(spec.unit_of(f) or "", spec.unit_of(f) or "")
            if spec.unit_of(f) == spec.BPS_RATE:
                unit = f"bps, ≤ {f.metadata['upper']}"
            default = "required" if f.metadata.get("required") else repr(f.default)
            if f.default is dataclasses.MISSING:
                default = "required"
            rows.append(f"| `{name}` | `{f.name}` | {unit} | {default} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
