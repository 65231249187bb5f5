"""`GET /`: the dashboard page (its scripts and styles are mounted at `/static` by the app)."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html")
