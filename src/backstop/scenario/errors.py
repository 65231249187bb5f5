"""The one error a scenario run reports: which step, which field, what is wrong."""

from __future__ import annotations

from ..domain.errors import BackstopError


class ScenarioError(BackstopError):
    """A scenario that cannot load or a step that failed; names the step and the field.

    When it reports a typed error (a bad amount, an unknown name, a command the engine refused),
    that error is chained (`raise ScenarioError(...) from exc`) and gives the error its `type`:
    the CLI prints `error (InvalidAmount): step 3: ...`, and `expect_error: InvalidAmount` matches.
    """

    def __init__(self, field: str, message: str, step: int | None = None) -> None:
        where = f"step {step}: " if step is not None else ""
        super().__init__(field, f"{where}{message}")
        self.step = step

    @property
    def cause(self) -> type[BackstopError]:
        """The class of the typed error reported: the chained one's, else ScenarioError."""
        inner = self.__cause__
        if isinstance(inner, ScenarioError):
            return inner.cause
        if isinstance(inner, BackstopError):
            return type(inner)
        return type(self)

    @property
    def type(self) -> str:
        return self.cause.__name__
