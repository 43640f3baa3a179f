"""A small TCP reverse proxy for the multi-process tests: what nginx or HAProxy is in a real
deployment (docs/cluster.md), reduced to what the tests need.

Each new client connection goes to the next backend in turn (round robin), so two
participants land on two different server processes; or, with ``failover=True``, to the
first backend that accepts it (nginx's ``backup`` servers), so every request of a page (its
long-polling too) reaches one process while it lives. A backend that refuses the connection
(its process died) is skipped. A connection whose backend closes is closed too, so the client
notices at once and reconnects, through the proxy, to a live process. Round robin suits
WebSocket-only clients (the Python peer: one TCP connection per socket); pages long-poll
first and need ``failover`` (a real proxy: sticky sessions). ``hold()`` keeps new
connections waiting until ``release()`` (a client that is slow to come back).

In a test process: ``with TcpProxy(backends) as proxy: proxy.url``. As a script:
``python tests/tcp_proxy.py --backend 127.0.0.1:5801 --backend ...`` prints
``listening on http://127.0.0.1:PORT`` once bound.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import threading
from typing import Callable, Sequence

Address = tuple[str, int]


class TcpProxy:
    def __init__(self, backends: Sequence[Address], host: str = "127.0.0.1", port: int = 0, failover: bool = False) -> None:
        self.backends = list(backends)
        self.failover = failover
        """Every connection to the first backend that accepts it (nginx's ``backup`` servers):
        one client's long-polling requests all reach one process, which round robin would not give."""
        self.host = host
        self.port = port
        self.routed: list[Address] = []
        """The backend each accepted connection went to, in order."""
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate: asyncio.Event | None = None
        """Set while new connections go through; :meth:`hold` keeps them waiting (a client
        whose reconnect is slow)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _pick(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Address] | None:
        start = 0 if self.failover else next(self._turn)
        for i in range(len(self.backends)):
            backend = self.backends[(start + i) % len(self.backends)]
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*backend), 5)
            except (OSError, asyncio.TimeoutError):
                continue  # that process is gone: the next one
            return reader, writer, backend
        return None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._gate is not None:
            await self._gate.wait()
        picked = await self._pick()
        if picked is None:
            client_writer.close()
            return
        server_reader, server_writer, backend = picked
        self.routed.append(backend)
        up = asyncio.ensure_future(self._pipe(client_reader, server_writer))
        down = asyncio.ensure_future(self._pipe(server_reader, client_writer))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        client_writer.close()
        server_writer.close()

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def hold(self) -> None:
        """New connections wait (accepted, not yet forwarded) until :meth:`release`."""
        self._call(lambda gate: gate.clear())

    def release(self) -> None:
        self._call(lambda gate: gate.set())

    def _call(self, action: Callable[[asyncio.Event], None]) -> None:
        assert self._loop is not None and self._gate is not None, "start() first"
        done = threading.Event()
        self._loop.call_soon_threadsafe(lambda: (action(self._gate), done.set()))  # type: ignore[arg-type]
        done.wait(5)

    async def serve(self, on_ready: Callable[[], None] = lambda: None) -> None:
        self._gate = asyncio.Event()
        self._gate.set()
        self._server = await asyncio.start_server(self._track, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        on_ready()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> "TcpProxy":
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self.serve())
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="tcp-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._server is not None:
            def shutdown() -> None:
                self._server.close()  # type: ignore[union-attr]
                for task in list(self._tasks):
                    task.cancel()
                for task in asyncio.all_tasks(loop):
                    task.cancel()

            loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _address(text: str) -> Address:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", action="append", type=_address, required=True, help="host:port (repeatable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    proxy = TcpProxy(args.backend, args.host, args.port)

    try:
        asyncio.run(proxy.serve(on_ready=lambda: print(f"listening on {proxy.url}", flush=True)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
