"""The HTTP server in-process, under Trio: bound address, keep-alive, limits, shutdown."""

from __future__ import annotations

import base64
from pathlib import Path

import trio

from amqpish.config import load_config
from amqpish.server.app import Server

AUTH = b"Authorization: Basic " + base64.b64encode(b"guest:guest") + b"\r\n"


async def read_response(stream: trio.SocketStream, buf: bytearray) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = await stream.receive_some(65536)
        assert chunk, "connection closed"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        chunk = await stream.receive_some(65536)
        assert chunk
        rest += chunk
    del buf[:]
    buf += rest[length:]
    return status, rest[:length]


async def test_serve_reports_bound_address_keeps_alive_and_stops(tmp_path: Path) -> None:
    server = Server(load_config(port=0, http_port=0, data_dir=tmp_path))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        host, port = server.addresses["http"]
        assert port != 0
        stream = await trio.open_tcp_stream(host, port)
        buf = bytearray()
        # two requests, pipelined, on one connection
        req = b"GET /api/whoami HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
        await stream.send_all(req + req)
        for _ in range(2):
            status, body = await read_response(stream, buf)
            assert status == 200 and b'"guest"' in body
        await stream.send_all(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = await read_response(stream, buf)
        assert status == 401 and b"not_authorized" in body
        await stream.send_all(
            b"PUT /api/queues/%2F/inproc HTTP/1.1\r\nHost: x\r\n"
            + AUTH
            + b"Content-Length: 2\r\n\r\n{}"
        )
        status, _ = await read_response(stream, buf)
        assert status == 201
        assert "inproc" in server.broker.vhosts["/"].queues
        idle = await trio.open_tcp_stream(host, port)
        server.stop()
        with trio.fail_after(10):
            # the shutdown closes idle keep-alive connections
            assert await idle.receive_some(10) == b""
        await stream.aclose()
        await idle.aclose()


async def test_expect_continue_and_head(tmp_path: Path) -> None:
    server = Server(load_config(port=0, http_port=0, data_dir=tmp_path))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        host, port = server.addresses["http"]
        stream = await trio.open_tcp_stream(host, port)
        buf = bytearray()
        await stream.send_all(
            b"PUT /api/vhosts/cont HTTP/1.1\r\nHost: x\r\n"
            + AUTH
            + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        status, _ = await read_response(stream, buf)
        assert status == 100
        await stream.send_all(b"{}")
        status, _ = await read_response(stream, buf)
        assert status == 201
        await stream.send_all(b"HEAD /api/overview HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
        while b"\r\n\r\n" not in buf:
            buf += await stream.receive_some(65536)
        assert bytes(buf).startswith(b"HTTP/1.1 200")
        await stream.aclose()
        server.stop()
