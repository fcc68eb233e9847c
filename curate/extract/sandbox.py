"""A killable extraction worker: a per-document time limit, and a crash costs one document.

trafilatura can run for minutes on one page and resiliparse (lexbor) has taken processes down, so the
extractor runs in a child interpreter. The parent sends documents in chunks and reads results one by one,
so the limit applies to each document while the pipe round trip is paid once per chunk. When a document
overruns ``timeout_s`` the worker is SIGKILLed; when the worker dies (segfault, ``os._exit``, OOM kill,
MemoryError) the document it was on is charged; either way a fresh worker takes the rest of the chunk.

Why a fresh interpreter (``subprocess`` + exec, like multiprocessing's "spawn") and not fork: the stage
runs inside Ray actors (gRPC threads), Spark Python workers and pyarrow's thread pools; forking a
multithreaded process can leave a lock held forever in the child, and here that would look like every
document timing out. multiprocessing also refuses to start children from its own daemonic workers;
``subprocess`` has no such rule. The price is an interpreter start plus imports on each (re)start
(~0.5-1 s), paid once per worker and after each timeout or crash, which are rare.

The worker dies with its parent twice over: it reads its requests from a pipe whose EOF ends it, and it
asks the kernel for SIGKILL when the parent goes (PR_SET_PDEATHSIG) in case it is stuck in C code.
It also raises its own OOM score so the kernel's OOM killer picks it before the engine worker.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
import weakref
from multiprocessing.connection import Connection

# reasons the sandbox gives (the stage prefixes them with "extract:")
EMPTY, TIMEOUT, CRASH, ERROR = "empty", "timeout", "crash", "error"

_WARMUP_HTML = "<html><head><title>w</title></head><body><article><p>warm up</p></article></body></html>"
_CHUNK_DOCS = 64
_CHUNK_BYTES = 8 * 2**20
_START_TIMEOUT_S = 60.0
_MAX_FAILED_STARTS = 3


class WorkerStartError(RuntimeError):
    """The worker could not start (the extractor does not import, or the interpreter fails)."""


class Sandbox:
    """Runs ``extractor`` (a name or ``module:function``, see ``extractors.resolve``) in a child process.

    ``extract(htmls)`` returns one ``(text, reason)`` per input: ``(text, None)`` when text was
    extracted, ``(None, reason)`` otherwise with reason one of empty, timeout, crash, error, or an
    :class:`~curate.extract.extractors.ExtractError` reason (too_deep).
    """

    def __init__(self, extractor: str, timeout_s: float):
        self.extractor = extractor
        self.timeout_s = timeout_s
        self.restarts = 0
        self._send_failures = 0
        self._proc: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._finalizer: weakref.finalize | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        last = ""
        for _ in range(_MAX_FAILED_STARTS):
            try:
                self._spawn()
                return
            except WorkerStartError:
                raise
            except (OSError, EOFError, TimeoutError) as e:
                last = f"{type(e).__name__}: {e}"
                self._stop()
        raise WorkerStartError(f"extraction worker for {self.extractor!r} failed to start: {last}")

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "curate.extract._worker", str(to_child_r), str(from_child_w), str(os.getpid())],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=_child_env(),
                close_fds=True,
            )
        except BaseException:
            os.close(to_child_w)
            os.close(from_child_r)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._proc = proc
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        self._finalizer = weakref.finalize(self, _shutdown, proc, self._send, self._recv)
        self._send.send_bytes(pickle.dumps({"sys_path": list(sys.path), "extractor": self.extractor}))
        if not self._recv.poll(max(_START_TIMEOUT_S, self.timeout_s)):
            raise TimeoutError(f"no ready signal within {max(_START_TIMEOUT_S, self.timeout_s)} s")
        status, detail = pickle.loads(self._recv.recv_bytes())
        if status != "ready":
            self._stop()
            raise WorkerStartError(f"extraction worker for {self.extractor!r} failed to start:\n{detail}")

    def _stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._proc = self._send = self._recv = self._finalizer = None

    def close(self) -> None:
        self._stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ---- work ------------------------------------------------------------------------------------
    def extract(self, htmls: list[str] | list[bytes]) -> list[tuple[str | None, str | None]]:
        """Extract each page (str, or UTF-8 bytes: cheaper to send, no encode/decode in this process)."""
        results: list[tuple[str | None, str | None]] = [(None, CRASH)] * len(htmls)
        pos = 0
        while pos < len(htmls):
            pos = self._run_from(htmls, pos, results)
        return results

    def _run_from(self, htmls: list, pos: int, results: list) -> int:
        """Stream ``htmls[pos:]`` to the worker and read results one by one; return where to go on from
        (``len(htmls)`` when all are done, or the document after one that failed).

        A sender thread writes the chunks while this thread reads results, so the worker extracts
        chunk k while chunk k+1 crosses the pipe and this process does its own work (2x less sandbox
        overhead for resiliparse, measured in bench/extraction_speed.py). With both directions in
        flight, the sender must be a separate thread: a worker blocked on writing results to a full
        pipe would otherwise wait for us while we wait for it to read.
        """
        self.start()
        send, n = self._send, len(htmls)
        first_send_failed = threading.Event()
        stop = threading.Event()

        def sender() -> None:
            a = pos
            while a < n and not stop.is_set():
                b, size = a, 0
                while b < n and b - a < _CHUNK_DOCS and (size < _CHUNK_BYTES or b == a):
                    size += len(htmls[b])
                    b += 1
                try:
                    send.send_bytes(pickle.dumps(list(enumerate(htmls[a:b], a)), protocol=5))
                except (OSError, ValueError):  # the worker is gone (or we closed the pipe on restart)
                    if a == pos:
                        first_send_failed.set()
                    return
                a = b

        thread = threading.Thread(target=sender, name="curate-extract-sender", daemon=True)
        thread.start()
        try:
            for i in range(pos, n):
                try:
                    if not self._recv.poll(self.timeout_s):
                        results[i] = (None, TIMEOUT)
                        self._restart()
                        return i + 1
                    j, text, reason = pickle.loads(self._recv.recv_bytes())
                except (EOFError, OSError):
                    thread.join()
                    self._restart()
                    if i == pos and first_send_failed.is_set():
                        # the worker was gone before it saw this run (e.g. the thread that started it
                        # ended, which fires PDEATHSIG): nobody to blame, unless it keeps happening
                        self._send_failures += 1
                        if self._send_failures < _MAX_FAILED_STARTS:
                            return pos
                    self._send_failures = 0
                    results[i] = (None, CRASH)
                    return i + 1
                self._send_failures = 0
                if j != i:  # a protocol bug, never a document's fault
                    raise RuntimeError(f"extraction worker answered for document {j}, expected {i}")
                results[i] = (text, reason)
                if reason == CRASH:  # a MemoryError: the worker reported it and exits
                    self._restart()
                    return i + 1
            return n
        finally:
            stop.set()
            if thread.is_alive() and self._proc is not None and self._proc.poll() is None:
                thread.join()
            elif thread.is_alive():
                self._stop()  # closes the pipe under a sender still writing to a dead worker
                thread.join()

    def _restart(self) -> None:
        self.restarts += 1
        self._stop()

    def __getstate__(self):
        raise TypeError("a running Sandbox cannot be pickled; pickle the Extract stage, which starts its own")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # the worker imports curate.extract._worker: make it importable even when curate is not installed
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # the worker runs one document at a time: no BLAS/OMP thread pools competing with the engine
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _shutdown(proc: subprocess.Popen, send: Connection, recv: Connection) -> None:
    for conn in (send, recv):
        try:
            conn.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()  # SIGKILL: it may be stuck in C code; it holds nothing worth a graceful exit
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# ---- the worker side -----------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000\n")
    except OSError:
        pass


def _clean(text: str) -> str:
    # Arrow rejects lone surrogates: one bad document would fail the whole batch
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _serve(recv: Connection, send: Connection) -> None:
    import logging

    from curate.extract.extractors import ExtractError, resolve

    init = pickle.loads(recv.recv_bytes())
    for p in reversed(init["sys_path"]):
        if p not in sys.path:
            sys.path.insert(0, p)
    # per-document outcomes are reported as reasons; trafilatura's per-page warnings would flood stderr
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    try:
        fn = resolve(init["extractor"])
        fn(_WARMUP_HTML)  # import lazily loaded modules now, not inside the first document's time limit
    except BaseException:
        send.send_bytes(pickle.dumps(("error", traceback.format_exc())))
        return
    send.send_bytes(pickle.dumps(("ready", "")))
    while True:
        try:
            chunk = pickle.loads(recv.recv_bytes())
        except EOFError:
            return
        for i, html in chunk:
            fatal = False
            try:
                text = fn(html.decode("utf-8") if isinstance(html, bytes) else html)
                out = (i, _clean(text), None) if text else (i, None, EMPTY)
            except ExtractError as e:
                out = (i, None, e.reason)
            except MemoryError:
                out, fatal = (i, None, CRASH), True
            except Exception:
                out = (i, None, ERROR)
            send.send_bytes(pickle.dumps(out, protocol=5))
            if fatal:
                os._exit(1)


def main(argv: list[str]) -> None:
    rfd, wfd, parent = (int(a) for a in argv[:3])
    _die_with_parent(parent)
    recv, send = Connection(rfd, writable=False), Connection(wfd, readable=False)
    try:
        _serve(recv, send)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        pass
    os._exit(0)  # skip interpreter teardown: nothing to flush, and lxml/lexbor teardown costs time

