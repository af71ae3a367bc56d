"""Platform: keep other processes out of the agent's memory, as far as the OS lets us.

- Linux: `prctl(PR_SET_DUMPABLE, 0)`: processes of the same user (not root) can no longer
  read /proc/PID/mem, environ or maps, nor ptrace the process. `RLIMIT_CORE` 0: no core file.
  Value buffers are `mlock`ed (never written to swap) and marked `MADV_DONTDUMP` (left out of
  any core dump), within RLIMIT_MEMLOCK.
- macOS: `ptrace(PT_DENY_ATTACH)` refuses debuggers (untested here); `RLIMIT_CORE` 0; `mlock`.

Every step fails safe: what cannot be done is reported, never fatal, and `report()` tells
`status` (and `doctor`) what is active. What stays possible: root reads everything, and a
process of the same user that can ptrace the *shell* can read the capability from it.
"""

from __future__ import annotations

import _thread
import ctypes
import resource
import sys

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PT_DENY_ATTACH = 31
MADV_DONTDUMP = 16
_LINUX = sys.platform.startswith("linux")

_lock = _thread.allocate_lock()  # not threading (≈ 1 ms to import): `run` imports this module
_held: dict[int, range] = {}  # id(buffer) -> its pages, for the buffers mlock accepted
_pages_held: dict[int, int] = {}  # page address -> how many held buffers touch it
_report: dict[str, str] = {}
_unlockable = 0


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def harden_process() -> dict[str, str]:
    """Harden the calling process (the agent, once at start); return what is active."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _report["core dumps"] = "off (RLIMIT_CORE 0)"
    except (ValueError, OSError) as exc:
        _report["core dumps"] = f"possible: RLIMIT_CORE could not be set ({exc})"
    _report["memory access"] = _deny_memory_access()
    return report()


def not_dumpable() -> bool:
    """Linux: hide this process's memory and environment from same-user processes (for
    `run`, which reads the capability from its pipe next). A no-op elsewhere."""
    if not _LINUX or _LIBC is None:
        return False
    return int(_LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0


def _deny_memory_access() -> str:
    if _LINUX:
        if not_dumpable() and _LIBC is not None and _LIBC.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0:
            return "closed to other processes of your user (PR_SET_DUMPABLE 0); root can read it"
        return "open: prctl(PR_SET_DUMPABLE) failed"
    if sys.platform == "darwin" and _LIBC is not None:
        if _LIBC.ptrace(PT_DENY_ATTACH, 0, None, 0) == 0:
            return "debuggers refused (PT_DENY_ATTACH); root can still read it"
        return "open: ptrace(PT_DENY_ATTACH) failed"
    return "open: no hardening known for this platform"


def report() -> dict[str, str]:
    with _lock:
        held = len(_held)
        locked = f"{held} value buffers locked in RAM (mlock)"
        if _unlockable:
            locked += f"; {_unlockable} could not be locked (RLIMIT_MEMLOCK)"
        return {**_report, "swap": locked}


def _page_size() -> int:
    import mmap  # here: the warm `run` path imports this module for not_dumpable() alone

    return mmap.PAGESIZE


def _pages(buf: bytearray) -> range:
    if not buf or _LIBC is None:
        return range(0)
    view = (ctypes.c_char * len(buf)).from_buffer(buf)
    address = ctypes.addressof(view)
    del view  # releases the export, so the bytearray stays an ordinary bytearray
    page = _page_size()
    first = address - address % page
    return range(first, address + len(buf), page)


def lock_buffer(buf: bytearray) -> bool:
    """Best effort: keep buf's pages out of swap and out of core dumps."""
    global _unlockable
    pages = _pages(buf)
    if not pages or _LIBC is None:
        return False
    size = ctypes.c_size_t(len(pages) * _page_size())
    with _lock:
        if _LIBC.mlock(ctypes.c_void_p(pages.start), size) != 0:
            _unlockable += 1
            return False
        if _LINUX:
            _LIBC.madvise(ctypes.c_void_p(pages.start), size, MADV_DONTDUMP)
        _held[id(buf)] = pages
        for page in pages:
            _pages_held[page] = _pages_held.get(page, 0) + 1
    return True


def unlock_buffer(buf: bytearray) -> None:
    """After a wipe: unlock the pages no other held buffer uses (mlock does not nest)."""
    with _lock:
        pages = _held.pop(id(buf), None)
        if pages is None or _LIBC is None:
            return
        for page in pages:
            _pages_held[page] -= 1
            if not _pages_held[page]:
                del _pages_held[page]
                _LIBC.munlock(ctypes.c_void_p(page), ctypes.c_size_t(_page_size()))
