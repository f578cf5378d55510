"""The HTTP/1.1 server: h11 on Trio, one task per connection, keep-alive.

Each connection runs a loop: read one request (headers bounded by h11's
``max_incomplete_event_size``, body bounded by ``MAX_BODY``), hand it to the
application (a plain synchronous call: the broker model must not change while a
response is being assembled), write the response, start the next cycle. Timeouts bound
every wait: an idle keep-alive connection is closed after ``KEEPALIVE_TIMEOUT``, a
request must arrive completely within ``REQUEST_TIMEOUT``, a response must be written
within ``WRITE_TIMEOUT`` (in a shielded scope, so cancellation never leaves half a
response on the wire).

``serve_management`` binds the listener, reports the bound address through
``task_status`` and serves until cancelled; on cancellation the listener closes first,
idle connections are dropped and responses in flight are finished.
"""

from __future__ import annotations

from typing import Any

import h11
import structlog
import trio

from amqpish.admin import BrokerAdmin
from management_ui.app import App
from management_ui.http import STATUS_TEXT, HTTPError, Request, Response, error_response

log = structlog.get_logger("amqpish.management")

MAX_HEADERS = 16 * 1024
MAX_BODY = 32 * 1024 * 1024
MAX_CONNECTIONS = 512
KEEPALIVE_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0
WRITE_TIMEOUT = 10.0
READ_SIZE = 64 * 1024


class _ClientGone(Exception):
    pass


class HTTPConnection:
    """One client connection: h11 state plus the stream."""

    def __init__(self, stream: trio.SocketStream, app: App, client: tuple[str, int]) -> None:
        self.stream = stream
        self.app = app
        self.client = client
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)

    async def _send(self, *events: Any) -> None:
        data = b"".join(self.conn.send(ev) or b"" for ev in events)
        with trio.CancelScope(shield=True), trio.move_on_after(WRITE_TIMEOUT) as scope:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                raise _ClientGone from None
        if scope.cancelled_caught:
            raise _ClientGone

    async def _next_event(self, deadline: float) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.conn.they_are_waiting_for_100_continue:
                await self._send(h11.InformationalResponse(status_code=100, headers=[]))
            with trio.move_on_at(deadline):
                try:
                    data = await self.stream.receive_some(READ_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    raise _ClientGone from None
                self.conn.receive_data(data)
                continue
            raise TimeoutError

    async def read_request(self) -> Request | None:
        """The next complete request, or None when the client closed or went idle."""
        try:
            event = await self._next_event(trio.current_time() + KEEPALIVE_TIMEOUT)
        except TimeoutError:
            return None
        if isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request), event
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1").lower()
            val = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {val}" if key in headers else val
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise HTTPError(413, "bad_request", "Exceeded HTTP request body size limit")
        deadline = trio.current_time() + REQUEST_TIMEOUT
        body = bytearray()
        while True:
            try:
                ev = await self._next_event(deadline)
            except TimeoutError:
                raise HTTPError(408, "request_timeout", "request not received in time") from None
            if isinstance(ev, h11.Data):
                body += ev.data
                if len(body) > MAX_BODY:
                    raise HTTPError(413, "bad_request", "Exceeded HTTP request body size limit")
            elif isinstance(ev, h11.EndOfMessage):
                break
            else:
                raise _ClientGone
        target = event.target.decode("latin-1")
        return Request(
            event.method.decode("ascii", "replace").upper(),
            target,
            headers,
            bytes(body),
            self.client,
        )

    async def send_response(
        self, resp: Response, *, head: bool = False, close: bool = False
    ) -> None:
        headers = [(k.encode(), v.encode("latin-1", "replace")) for k, v in resp.all_headers()]
        headers.append((b"server", b"amqpish"))
        body = b"" if head or resp.status in (204, 304) else resp.body
        if resp.status not in (204, 304):
            headers.append((b"content-length", str(len(resp.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        reason = STATUS_TEXT.get(resp.status, "").encode()
        events: list[Any] = [h11.Response(status_code=resp.status, headers=headers, reason=reason)]
        if body:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        await self._send(*events)

    async def send_error(self, e: HTTPError) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                await self.send_response(error_response(e), close=True)
            except (_ClientGone, h11.LocalProtocolError):
                pass

    async def serve(self, stopping: trio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    req = await self.read_request()
                except HTTPError as e:
                    await self.send_error(e)
                    return
                except h11.RemoteProtocolError as e:
                    status = e.error_status_hint
                    reason = str(e) or "malformed request"
                    error = "bad_request" if status != 431 else "request_header_fields_too_large"
                    await self.send_error(HTTPError(status, error, reason))
                    return
                if req is None:
                    return
                resp = self.app.handle(req)
                close = stopping.is_set() or self.conn.our_state is h11.MUST_CLOSE
                await self.send_response(resp, head=req.method == "HEAD", close=close)
                if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                    return
                try:
                    self.conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except _ClientGone:
            return


async def _close(stream: trio.SocketStream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        try:
            await stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def serve_management(
    server: BrokerAdmin,
    host: str,
    port: int,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the management UI and HTTP API for ``server`` (the admin view) until cancelled."""
    if not isinstance(server, BrokerAdmin):
        raise TypeError(
            "serve_management needs the broker's admin view (amqpish.server.view.make_view)"
        )
    app = App(server)
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()
    stopping = trio.Event()
    active = 0

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal active
        try:
            peer = stream.socket.getpeername()
            client = (str(peer[0]), int(peer[1]))
        except OSError:
            client = ("?", 0)
        conn = HTTPConnection(stream, app, client)
        try:
            if active >= MAX_CONNECTIONS:
                await conn.send_error(HTTPError(503, "service_unavailable", "too many connections"))
                return
            active += 1
            try:
                await conn.serve(stopping)
            finally:
                active -= 1
        except Exception:
            log.exception("http_connection_crashed", client=f"{client[0]}:{client[1]}")
        finally:
            await _close(stream)

    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(trio.serve_listeners, handle, listeners)
            log.info("management_listening", address=f"{bound[0]}:{bound[1]}")
            task_status.started((str(bound[0]), int(bound[1])))
            await trio.sleep_forever()
        finally:
            stopping.set()
