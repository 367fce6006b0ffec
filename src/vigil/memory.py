"""Idle memory the process can hand back (Linux; elsewhere every call does nothing).

What holds RSS in an idle vigil that it does not need, and what vigil does about it
(measured: bench/RESULTS.md, "Idle memory"):

* ``trim`` — glibc keeps memory freed by a burst of work (an insert, a query) in its
  arenas until reused; ``malloc_trim`` hands it back. vigil runs it once a minute.
* ``page_out_library`` — importing chDB runs the engine's static initialisers, which touch
  ~200 MB of its 555 MB library (registering every function and format) once and never
  again. Those pages are clean and file-backed: the kernel would reclaim them under
  pressure, but until then they count in RSS and in a container's working set (active
  file pages are charged to the cgroup). ``madvise(MADV_PAGEOUT)`` over the library's
  read-only mappings, once the server is up, drops them now; the code a query runs is
  read back on its first use (measured: the first query after it ~0.5 s slower, once).
* ``keep_pandas_out`` — pyarrow imports pandas (26–36 MB) the first time it converts
  Python objects, only to learn whether they are pandas objects and pandas' null values;
  vigil never gives it any.
* ``before_serve`` (``vigil serve`` only, first thing, before heavy imports): keeps out
  the modules serve never runs (``httpx._main``: the ``httpx`` command line, which pulls in
  rich and pygments: 98 modules, ~5 MB). (Capping glibc's malloc arenas was measured and
  left out: no difference at idle, bench/RESULTS.md.)
* ``IdleUpkeep`` — when the idle upkeep purges the engine's allocator and pages its code
  out again: only after the store did something, and the page-out only after it has been
  quiet for ``--idle-page-out-after`` seconds. With the background passes that skip while
  nothing changed (the service-graph catch-up, vigil's own metrics: ``Store.activity`` and
  ``Store.writes``), an idle server's engine stays untouched and its code stays out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.abc
import sys
from dataclasses import dataclass

MADV_PAGEOUT = 21  # linux/mman.h, Linux >= 5.4
# Modules ``vigil serve`` never runs, refused so that what they import stays out.
SERVE_KEEPS_OUT = ("pandas", "httpx._main")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "madvise"):
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise.restype = ctypes.c_int
    return libc


_LIBC = _libc()


def trim() -> bool:
    """Return free heap memory to the system; True when some was released."""
    if _LIBC is None or not hasattr(_LIBC, "malloc_trim"):
        return False
    return bool(_LIBC.malloc_trim(0))


def page_out_library(file_suffix: str, maps: str = "/proc/self/maps") -> int:
    """Drop the resident clean pages of the read-only mappings of the shared library whose
    path ends with ``file_suffix``; returns how many mappings were advised (0 where the
    kernel or the platform cannot). Writable mappings are left alone: their pages may be
    dirty, and paging those out would mean swap."""
    if _LIBC is None or not hasattr(_LIBC, "madvise"):
        return 0
    try:
        with open(maps) as lines:
            ranges = [_range(line) for line in lines if _read_only_of(line, file_suffix)]
    except OSError:
        return 0
    advised = 0
    for start, end in ranges:
        if _LIBC.madvise(start, end - start, MADV_PAGEOUT) == 0:
            advised += 1
    return advised


def _read_only_of(line: str, file_suffix: str) -> bool:
    parts = line.split()
    return len(parts) >= 6 and parts[5].endswith(file_suffix) and "w" not in parts[1]


def _range(line: str) -> tuple[int, int]:
    start, end = line.split(None, 1)[0].split("-")
    return int(start, 16), int(end, 16)


def before_serve() -> None:
    """``vigil serve``'s first step (before heavy imports)."""
    keep_out(*SERVE_KEEPS_OUT)


def keep_out(*names: str) -> list[str]:
    """From now on importing any of ``names`` (or their submodules) fails in this process;
    returns those newly refused (a name already imported cannot be, and is left out)."""
    refused = next((f for f in sys.meta_path if isinstance(f, _KeptOut)), None)
    if refused is None:
        refused = _KeptOut()
        sys.meta_path.insert(0, refused)
    added = [n for n in names if n not in sys.modules and n not in refused.names]
    refused.names.update(added)
    return added


def keep_pandas_out() -> bool:
    """From now on ``import pandas`` fails in this process (True when installed now).

    For ``vigil serve`` only: vigil's code never uses pandas, and pyarrow — its C++ side
    and its Python side alike — treats a failed import as "no pandas" and converts
    without it. A dependency that needs pandas one day gets an ImportError naming this
    module, and the suite's served-process tests (tests/vigil_process.py) would show it."""
    return keep_out("pandas") == ["pandas"]


class _KeptOut(importlib.abc.MetaPathFinder):
    """Refuses to find the modules in ``names``. (Not ``sys.modules[name] = None``:
    Cython's import takes that None for the module.)"""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if any(fullname == n or fullname.startswith(n + ".") for n in self.names):
            raise ImportError(f"vigil serve does not load {fullname} (see vigil/memory.py)")
        return None


# Seconds the store must have been untouched before the engine's code is paged out again
# (``IdleUpkeep``). Five minutes — a long idle stretch, not a pause: a node with steady
# traffic (any exporter sends every few seconds) never reaches it and never pays a
# read-back; a laptop or a quiet test environment does, once per quiet stretch: the first
# request after it reads the code it runs back from the disk (measured: 0.1–0.3 s, and 2 s on
# a machine busy with other processes' I/O; bench/RESULTS.md, "Idle memory").
PAGE_OUT_AFTER = 300.0  # the default of ``vigil serve --idle-page-out-after``


@dataclass(slots=True)
class IdleUpkeep:
    """When the idle upkeep (a periodic task) should hand memory back, decided from the
    store's activity count (``Store.activity``) sampled at each pass; pure, the time is
    passed in.

    * purge: the engine's allocator holds freed pages after work; purging costs a command
      the engine runs, so only after some store activity since the last purge — an idle
      engine is left alone instead of being woken every minute;
    * page out: once the store has been quiet for ``page_out_after`` seconds, and only if
      it did something since the last page-out (whatever ran touched code pages back in).
      Not every pass: a page-out drops the code of the next request too.
    """

    page_out_after: float = PAGE_OUT_AFTER
    _seen: int | None = None  # activity at the last pass
    _since: float = 0.0  # when it last changed
    _purged: int | None = None  # activity at the last purge
    _paged: int | None = None  # activity at the last page-out

    def step(self, activity: int, now: float) -> tuple[bool, bool]:
        """(purge, page out) for this pass."""
        if activity != self._seen:
            self._seen, self._since = activity, now
        purge = activity != self._purged
        if purge:
            self._purged = activity
        page_out = activity != self._paged and now - self._since >= self.page_out_after
        if page_out:
            self._paged = activity
        return purge, page_out

    def paged_out(self, activity: int) -> None:
        """A page-out happened outside ``step`` (the one after start-up)."""
        self._paged = activity
