"""Risk history and alerts: every finished live job is a point; rules over its metrics fire alerts.

A point is read from the job's stored summary (the same numbers `backstop simulate --json`
prints), so the history needs no table of its own. An alert rule is `{metric, above}`; a rule
fires when a finished live job's metric is above its threshold. A fired alert is a row (its id is
`<job id>:<metric>`, so a rule fires once per job) and, with a webhook configured, is POSTed as
JSON signed with HMAC-SHA256 of the body (`X-Backstop-Signature: sha256=<hex>`), carrying the
alert id as `Idempotency-Key` so a receiver can drop a retry it already has; a failed delivery is
retried with exponential backoff (docs/service.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

from ..domain.errors import InvalidConfig
from ..store.jobs import AlertRecord, JobRecord

METRICS = ("p_bad_debt", "p_socialized", "var99", "cvar99")
"""Metrics of the whole book; `p_exhausted:<layer>` names one layer's."""
_LAYER_METRIC = re.compile(r"^p_exhausted:[A-Za-z0-9_.:\-]{1,64}$")
MAX_RULES = 50
SIGNATURE_HEADER = "X-Backstop-Signature"


def history_point(job: JobRecord) -> dict[str, Any]:
    """One point of `/v1/risk/history`: time, state hash, the headline metrics with their standard
    errors (whole tokens of the loss asset for VaR and CVaR), each layer's P(exhausted)."""
    s = json.loads(job.result or "{}")
    n = int(s["paths"])
    loss = s["loss"]
    layers = {}
    for lid, r in s["by_layer"].items():
        p = r.get("p_exhausted")
        layers[lid] = {"p_exhausted": p, "se": None if p is None else math.sqrt(p * (1 - p) / n)}
    return {
        "job": job.id,
        "at": job.updated_at,
        "state_hash": job.state_hash,
        "paths": n,
        "seed": s["seed"],
        "loss_asset": s["loss_asset"],
        "p_bad_debt": {"value": s["p_bad_debt"]["value"], "se": s["p_bad_debt"]["se"]},
        "p_socialized": {"value": s["p_socialized"]["value"], "se": s["p_socialized"]["se"]},
        "var99": {"value": loss["var99"], "se": loss["se"]["var99"]},
        "cvar99": {"value": loss["cvar99"], "se": loss["se"]["cvar99"]},
        "layers": layers,
    }


def is_live(job: JobRecord) -> bool:
    """A live simulation (a point of the risk history); a sizing job of the live book is not."""
    request = json.loads(job.request)
    return bool(request.get("source") == "live" and "size" not in request)


def metric_value(point: dict[str, Any], metric: str) -> float | None:
    if metric.startswith("p_exhausted:"):
        layer = point["layers"].get(metric.split(":", 1)[1])
        return None if layer is None or layer["p_exhausted"] is None else float(layer["p_exhausted"])
    return float(point[metric]["value"])


def parse_rules(raw: Any) -> list[dict[str, Any]]:
    """Validate `[{metric, above}]`, or raise InvalidConfig naming the field (`alerts.0.above`)."""
    if not isinstance(raw, list):
        raise InvalidConfig("alerts", "alerts: must be a list of {metric, above}")
    if len(raw) > MAX_RULES:
        raise InvalidConfig("alerts", f"alerts: at most {MAX_RULES} rules, got {len(raw)}")
    rules = []
    for i, rule in enumerate(raw):
        where = f"alerts.{i}"
        if not isinstance(rule, dict):
            raise InvalidConfig(where, f"{where}: must be an object {{metric, above}}")
        extra = sorted(set(rule) - {"metric", "above"})
        if extra:
            raise InvalidConfig(f"{where}.{extra[0]}", f"{where}.{extra[0]}: not a field of an alert rule")
        metric, above = rule.get("metric"), rule.get("above")
        if not isinstance(metric, str) or not (metric in METRICS or _LAYER_METRIC.match(metric)):
            known = ", ".join(METRICS)
            raise InvalidConfig(
                f"{where}.metric", f"{where}.metric: one of {known} or p_exhausted:<layer>, got {metric!r}"
            )
        if isinstance(above, bool) or not isinstance(above, (int, float)) or not math.isfinite(above) or above < 0:
            raise InvalidConfig(f"{where}.above", f"{where}.above: must be a non-negative number, got {above!r}")
        rules.append({"metric": metric, "above": above})
    return rules


@dataclass
class Webhook:
    url: str
    secret: str
    attempts: int = 5
    backoff_seconds: float = 0.5
    timeout_seconds: float = 5.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Alerts:
    """Evaluates the rules on each finished live job and delivers what fires."""

    def __init__(self, store: Any, webhook: Webhook | None = None) -> None:
        self.store = store
        self.webhook = webhook

    def on_done(self, job: JobRecord) -> list[AlertRecord]:
        if not is_live(job) or job.result is None:
            return []
        raw = self.store.get_alert_rules()
        if raw is None:
            return []
        point = history_point(job)
        fired = []
        for rule in json.loads(raw):
            value = metric_value(point, rule["metric"])
            if value is None or value <= rule["above"]:
                continue
            alert = AlertRecord(
                f"{job.id}:{rule['metric']}",
                job.id,
                rule["metric"],
                value,
                float(rule["above"]),
                job.state_hash,
                job.updated_at,
                "pending" if self.webhook else "none",
            )
            self.store.save_alert(alert)
            fired.append(alert)
            if self.webhook is not None:
                threading.Thread(target=self.deliver, args=(alert,), daemon=True).start()
        return fired

    def deliver(self, alert: AlertRecord) -> AlertRecord:
        """POST the alert until the receiver answers 2xx, with exponential backoff between tries."""
        hook = self.webhook
        assert hook is not None
        body = json.dumps(
            {k: getattr(alert, k) for k in ("id", "job_id", "metric", "value", "above", "state_hash", "at")},
            sort_keys=True,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(hook.secret, body),
            "Idempotency-Key": alert.id,
        }
        for attempt in range(1, hook.attempts + 1):
            try:
                request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=hook.timeout_seconds) as answer:
                    ok = 200 <= answer.status < 300
            except (urllib.error.URLError, OSError, ValueError):
                ok = False
            alert = replace(alert, attempts=attempt, delivery="delivered" if ok else "pending")
            if ok:
                break
            if attempt < hook.attempts:
                time.sleep(hook.backoff_seconds * 2 ** (attempt - 1))
        else:
            alert = replace(alert, delivery="failed")
        self.store.save_alert(alert)
        return alert
