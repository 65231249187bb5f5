"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis): no 5xx,
every response matches the documented status codes and schemas. Bounded for CI; `make soak`
raises the example count (BACKSTOP_SOAK=1)."""

from __future__ import annotations

import os
import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import make_api

API = make_api(f"sqlite:///{tempfile.mkdtemp(prefix='bk-st-')}/s.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", API.client.app)
EXAMPLES = 200 if os.environ.get("BACKSTOP_SOAK") == "1" else 12
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors_and_matches_its_schema(case: schemathesis.Case) -> None:
    token = API.tokens["admin"]
    if case.headers is None:
        case.headers = {}
    case.headers["Authorization"] = f"Bearer {token}"
    response = case.call()
    case.validate_response(response, checks=CHECKS)
