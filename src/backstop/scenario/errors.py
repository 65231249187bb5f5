"""The one error a scenario run reports: which step, which field, what is wrong."""

from __future__ import annotations

from ..domain.errors import BackstopError


class ScenarioError(BackstopError):
    """A scenario that cannot load or a step that failed; names the step and the field."""

    http_status = 422

    def __init__(self, field: str, message: str, step: int | None = None, cause: str | None = None) -> None:
        where = f"step {step}: " if step is not None else ""
        super().__init__(field, f"{where}{message}")
        self.step = step
        self.cause = cause or type(self).__name__
