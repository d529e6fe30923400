"""The simulated server's process side: a listening socket served by asyncio on a daemon thread.

One asyncio loop serves every connection with HTTP/1.1 keep-alive, so a burst of concurrent
clients is held at once, as vLLM holds them, rather than served one after another. The socket is
bound in :meth:`MockServer.start` but only listens after ``start_delay_s``, so until then
connections are refused, as with a vLLM that is still loading its weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

from docling_hybrid_cli.sim.app import MockApp
from docling_hybrid_cli.sim.config import MockConfig, MockStats
from docling_hybrid_cli.sim.http import (
    MalformedRequest,
    Response,
    encode_response,
    json_response,
    read_request,
    reset_connection,
)

__all__ = ["MockServer"]

_STREAM_LIMIT = 1 << 20
"""Reader buffer size: large enough that an 800 KB body is read without pausing the socket."""

_BACKLOG = 1024
"""Listen backlog, so a burst of 64+ connects is queued rather than refused."""


class MockServer:
    """The server: a listening socket served by an asyncio loop on a daemon thread.

    Use it as a context manager or call :meth:`start` and :meth:`stop`. All public methods are
    safe to call from any thread.
    """

    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config if config is not None else MockConfig()
        self._app = MockApp(self.config)
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event = asyncio.Event()
        self._loop_ready = threading.Event()
        self._startup_done = threading.Event()
        self._startup_error: BaseException | None = None
        self._listening = False
        self._connections: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> MockServer:
        """Bind the port and serve; return once listening, or at once if ``start_delay_s`` > 0.

        The port is known (:attr:`url`) as soon as this returns, even while the delay runs.
        """
        if self._started:
            raise ValueError("a MockServer can only be started once")
        self._started = True
        sock = self._bind()
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=f"sim-server:{self._port}"
        )
        self._thread.daemon = True
        self._thread.start()
        self._loop_ready.wait()
        if self.config.start_delay_s <= 0:
            self._startup_done.wait()
            if self._startup_error is not None:
                self.stop()
                raise self._startup_error
        return self

    def wait_listening(self, timeout: float | None = None) -> bool:
        """Block until the port accepts connections; False on timeout or if stopped before."""
        if not self._startup_done.wait(timeout):
            return False
        if self._startup_error is not None:
            raise self._startup_error
        return self._listening

    def stop(self) -> None:
        """Close the listener and every connection (even mid-request), then join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended after a failed start
            loop.call_soon_threadsafe(self._stop_event.set)
        thread.join()
        self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; the OpenAI-compatible API root is this plus ``/v1``."""
        if self._port == 0:
            raise ValueError("the port is chosen at start(); start the server first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    # ----------------------------------------------------------------- control and stats

    @property
    def stats(self) -> MockStats:
        """A consistent copy of the counters, safe to keep while the server goes on."""
        return self._app.counters.snapshot()

    def inject(self, *faults: str) -> None:
        """Queue faults for the next valid chat requests, in order, ahead of random ones."""
        self._app.faults.inject(*faults)

    def reset_stats(self) -> None:
        """Zero :attr:`stats` (not ``/metrics``, whose counters only grow, as in vLLM)."""
        self._app.counters.reset_tally()

    # ----------------------------------------------------------------- serving

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _serve(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_ready.set()
        try:
            if self.config.start_delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), self.config.start_delay_s)
            if self._stop_event.is_set():
                sock.close()
                return
            server = await asyncio.start_server(
                self._on_connection, sock=sock, limit=_STREAM_LIMIT, backlog=_BACKLOG
            )
            self._app.mark_listening()
        except OSError as exc:
            sock.close()
            self._startup_error = exc
            return
        finally:
            self._listening = self._startup_error is None and not self._stop_event.is_set()
            self._startup_done.set()
        async with server:
            await self._stop_event.wait()
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._app.counters.connection_opened()
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request, which clients are allowed to do
        except asyncio.CancelledError:
            pass  # stop(): end quietly, as Python 3.11 logs a cancelled connection task as an error
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on the connection; return whether to keep it open."""
        try:
            request = await read_request(reader, writer)
        except MalformedRequest as exc:
            rejection = json_response(400, {"detail": str(exc)})
            writer.write(encode_response(rejection, keep_alive=False))
            await writer.drain()
            return False
        if request is None:
            return False
        response = await self._app.handle(request)
        if response is None:
            reset_connection(writer)
            return False
        if response.drip_s > 0:
            return await _drip(writer, response)
        writer.write(encode_response(response, request.keep_alive))
        await writer.drain()
        return request.keep_alive


async def _drip(writer: asyncio.StreamWriter, response: Response) -> bool:
    """Headers at once, then the body a byte at a time; the connection closes after."""
    encoded = encode_response(response, keep_alive=False)
    head = len(encoded) - len(response.body)
    writer.write(encoded[:head])
    try:
        for offset in range(head, len(encoded)):
            await writer.drain()
            await asyncio.sleep(response.drip_s)
            writer.write(encoded[offset : offset + 1])
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # the client gave up, as it should
    return False
