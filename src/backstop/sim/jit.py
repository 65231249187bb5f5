"""Optional compiled kernels: Numba when it is installed (`pip install 'backstop[fast]'`), NumPy otherwise.

Phase A has two implementations that give the same numbers bit for bit: the NumPy one
(time-major whole-row passes, always available) and path-by-path kernels compiled by Numba: one
pass per path (`world._phase_a_kernel`, generated from the parts `prices.log_prices_path`,
`liquidation.minima_path` and `liquidation.triggers_path`: the path's log prices, its new minima,
the ranges they trigger and those ranges' prices, while the path is in cache), then
`stakers.run_start_pm`. A kernel does per element the very float operations, in the very order,
that the NumPy passes do (no `fastmath`, so no reassociation and no fused multiply-add), and the
only transcendental function, `exp`, stays in NumPy on contiguous arrays. Tests run both and
compare them (tests/sim/test_jit.py). Phase B likewise runs path by path in one compiled driver
(`phase_b.py`) that calls each layer kind's scalar rule; it is built by `generated_kernel` from one
generated module, so a change to any rule it calls is a new cache entry (tests/sim/test_phase_b.py).

Start-up is designed around the compiler, not paid per run:
* `numba` is imported only when a kernel is first called, so `backstop run` and the service never
  pay for it;
* kernels are compiled with `cache=True`: the machine code is written next to the module (or
  under `NUMBA_CACHE_DIR`) the first time and loaded afterwards; `backstop warmup` (also run by
  `make`) compiles every kernel once per install, so no user run compiles;
* worker processes are long-lived (`executors.py`): they load the kernels once.

`BACKSTOP_JIT=0` forces the NumPy path (for comparisons and benchmarks); `BACKSTOP_JIT=1` (the
default) uses Numba when it can be imported.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_KERNELS: list[Any] = []
_first_call = threading.RLock()


@functools.cache
def available() -> bool:
    """Numba can be imported (checked without importing it)."""
    return importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """Phase A runs the compiled kernels: Numba is there and `BACKSTOP_JIT` does not say 0."""
    return os.environ.get("BACKSTOP_JIT", "1") != "0" and available()


class _Lazy:
    """A kernel compiled on first call (`numba.njit(cache=True)`), so importing it costs nothing."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.compiled: Any = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            with _first_call:  # threads (Dask workers in one process) set a kernel up one at a time
                if self.compiled is None:
                    compiled = self._build()
                    with _without_scipy_blas():
                        result = compiled(*args)  # the first call sets up Numba's target and loads the cache
                    self.compiled = compiled
                    return result
        return self.compiled(*args)

    def _build(self) -> Any:
        import numba

        return numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)(self.fn)

    def py(self, *args: Any) -> Any:
        """The same kernel run by the interpreter (slow; tests use it on small inputs without Numba)."""
        return self.fn(*args)


@contextlib.contextmanager
def _without_scipy_blas() -> Iterator[None]:
    """While Numba sets up its CPU target it imports `scipy.linalg` (if SciPy is installed) to find
    BLAS for `np.dot` in compiled code, about 0.15 s of CPU per process. No kernel here uses BLAS,
    so unless SciPy's linalg is already loaded, its two Cython modules are hidden for that moment
    (a `None` entry in `sys.modules` makes the import fail, which Numba takes as "no BLAS")."""
    names = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")
    if "scipy.linalg" in sys.modules or any(n in sys.modules for n in names):
        yield
        return
    for n in names:
        sys.modules[n] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for n in names:
            if sys.modules.get(n, 0) is None:
                del sys.modules[n]


@contextlib.contextmanager
def loading_kernels() -> Iterator[None]:
    """Around loading the kernels (once per process): no cyclic collection while they load, then
    everything the process holds is frozen (`gc.freeze`), out of the collector's generations.

    Why: `import numba`, its CPU target and the cached kernels make ~10^5 objects that live as
    long as the process. In `backstop simulate` (issue 15) a generation-1 and a full collection
    fell inside the load, ~45 ms of its ~0.23 s, in the thread every chunk waits for; and left in
    the generations, those objects would be walked again by every later full collection. Nothing
    is lost but the collection of garbage cycles alive at that moment (a few hundred objects of
    Numba's set-up), once per process. A collector someone else turned off stays off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def kernel(fn: F) -> F:
    """Mark a function as a compiled kernel (plain Python, typed scalars and NumPy arrays only)."""
    lazy = _Lazy(fn)
    _KERNELS.append(lazy)
    return lazy  # type: ignore[return-value]


class _Generated(_Lazy):
    """A kernel that calls plain functions from other modules (`parts`, e.g. each layer kind's scalar
    rule): its compiled form is built from one module, generated from the source of the parts and of
    the kernel, written into the cache directory under a name that hashes that source, and compiled
    with `cache=True`. Numba checks a cached kernel only against its own file, so a kernel calling
    into other modules would otherwise keep stale machine code after one of them changed; here any
    change makes a new file, hence a new cache entry. `constants` are the module-level names the
    parts use (written into the module as literals). In the interpreter (`py`, and without numba)
    the kernel runs as written, calling the parts where they are defined."""

    def __init__(
        self, fn: Callable[..., Any], parts: tuple[Callable[..., Any], ...], constants: dict[str, Any]
    ) -> None:
        super().__init__(fn)
        self.parts = parts
        self.constants = constants

    def source(self) -> str:
        lines = [
            f'"""Generated by backstop.sim.jit from {self.fn.__module__}.{self.fn.__name__}; do not edit."""',
            "from __future__ import annotations",
            "import math",
            "import numba",
            "import numpy as np",
            '_njit = numba.njit(nogil=True, error_model="numpy", boundscheck=False)',
        ]
        lines += [f"{name} = {value!r}" for name, value in sorted(self.constants.items())]
        for part in self.parts:
            lines += ["", "", "@_njit", _undecorated(part)]
        lines += ["", "", _undecorated(self.fn), ""]
        return "\n".join(lines)

    def _build(self) -> Any:
        import numba

        src = self.source()
        digest = hashlib.sha256(src.encode()).hexdigest()[:16]
        name = f"{self.fn.__name__}_{digest}"
        path = generated_dir() / f"{name}.py"
        if not path.exists() or path.read_text() != src:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(src)
            os.replace(tmp, path)  # atomic: processes building at once write the same text
        spec = importlib.util.spec_from_file_location(f"backstop_generated_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)(
            getattr(module, self.fn.__name__)
        )


def _undecorated(fn: Callable[..., Any]) -> str:
    """A module-level function's source without its decorators."""
    src = textwrap.dedent(inspect.getsource(fn)).rstrip()
    at = src.find("def ")
    return src[at:] if at >= 0 else src


def generated_dir() -> Path:
    """Where generated kernel modules are written (and Numba caches them): under `NUMBA_CACHE_DIR`
    if set, else beside this package's own cache (`__pycache__`), else a per-user temporary directory."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    candidates = [Path(env) / "backstop_generated"] if env else []
    candidates += [
        Path(__file__).resolve().parent / "__pycache__" / "backstop_generated",
        Path(tempfile.gettempdir()) / f"backstop_generated_{os.getuid() if hasattr(os, 'getuid') else 0}",
    ]
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            return d
    raise OSError("no writable directory for generated kernels (set NUMBA_CACHE_DIR)")


def generated_kernel(parts: tuple[Callable[..., Any], ...], constants: dict[str, Any]) -> Callable[[F], F]:
    """Mark a function as a compiled kernel that calls the plain functions `parts` (see `_Generated`)."""

    def mark(fn: F) -> F:
        lazy = _Generated(fn, parts, constants)
        _KERNELS.append(lazy)
        return lazy  # type: ignore[return-value]

    return mark


def warmed() -> bool:
    """Every kernel is compiled or loaded in this process."""
    return all(k.compiled is not None for k in _KERNELS)


def warmup() -> dict[str, Any]:
    """Compile (or load from the on-disk cache) every kernel (phase A's, and phase B's driver: the
    cdp example runs it) with the argument types a run uses, by running one tiny chunk of each
    bundled risk-lab example (GBM with jumps and outages; a historical shock); returns what it did
    and how long it took."""
    if not enabled():
        why = "numba is not installed" if not available() else "BACKSTOP_JIT=0"
        return {"numba": None, "kernels": 0, "seconds": 0.0, "note": f"{why}: the NumPy path runs"}
    import numba

    from ..bundled import example_path
    from . import chunk, model

    t0 = time.perf_counter()
    for name in ("risk_lab_cdp", "risk_lab_black_thursday"):
        m = model.compile_model(example_path(name), seed=0)
        chunk.run_chunk(m, 0, 64, keep_paths=2)
    compiled = [k for k in _KERNELS if k.compiled is not None]
    return {
        "numba": numba.__version__,
        "kernels": len(compiled),
        "of": len(_KERNELS),
        "seconds": round(time.perf_counter() - t0, 3),
        "cache_dir": getattr(numba.config, "CACHE_DIR", None)
        or "__pycache__ beside each module (NUMBA_CACHE_DIR overrides)",
    }
