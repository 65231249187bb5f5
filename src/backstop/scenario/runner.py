"""Apply a loaded scenario to a fresh engine, step by step (docs/scenario-format.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.errors import BackstopError
from ..domain.invariants import check as check_invariants
from ..engine import Engine
from .errors import ScenarioError
from .loader import Scenario


@dataclass
class RunResult:
    scenario: Scenario
    engine: Engine
    expected_errors: list[tuple[int, str, str]] = field(default_factory=list)
    """(step, error type, message) of steps that failed as the file expected."""
    checked_steps: int = 0


def run(scenario: Scenario, check: bool = False) -> RunResult:
    engine = Engine()
    result = RunResult(scenario, engine)
    for step in scenario.steps:
        if step.command is None:  # refused while loading, as the step expected: nothing to apply
            result.expected_errors.append((step.index or 0, step.expect_error or "", step.load_error or ""))
            continue
        before = engine.state_hash() if (check and step.expect_error) else None
        try:
            engine.apply(step.command)
        except BackstopError as exc:
            if step.expect_error is None:
                where = f"{step.verb} " if step.index is None else ""
                raise ScenarioError(exc.field, f"{where}{exc.message}", step.index) from exc
            if exc.type != step.expect_error:
                # What is reported is the unmet expectation (a ScenarioError), not the engine's error.
                raise ScenarioError(
                    "expect_error",
                    f"expect_error: expected {step.expect_error}, got {exc.type}: {exc.message}",
                    step.index,
                ) from None
            if before is not None and engine.state_hash() != before:
                raise AssertionError(f"step {step.index}: a failed command changed the state") from exc
            result.expected_errors.append((step.index or 0, exc.type, exc.message))
        else:
            if step.expect_error is not None:
                raise ScenarioError(
                    "expect_error", f"expect_error: expected {step.expect_error}, but the step succeeded", step.index
                )
        if check:
            problems = check_invariants(engine.state)
            if problems:
                raise AssertionError(f"step {step.index}: invariant violated: {'; '.join(problems)}")
            result.checked_steps += 1
    return result
