"""What one running app holds: the service core, the rate limiter, the key cache, the jobs.

Routes reach it through `request.app.state.backstop` (`routes.deps.app_state`), so no route
keeps state of its own and two apps in one process (as in the tests) never share any.
"""

from __future__ import annotations

from dataclasses import dataclass

from .jobs import JobTable
from .keys import KeyCache
from .ratelimit import RateLimiter
from .service import Service


@dataclass
class AppState:
    service: Service
    limiter: RateLimiter
    keys: KeyCache
    jobs: JobTable

    @classmethod
    def create(cls, service: Service, rate_per_second: float, burst: int) -> AppState:
        return cls(service, RateLimiter(rate_per_second, burst), KeyCache(service.store), JobTable(service.store))
