"""Time from a client's connection.close to the broker's close-ok, with 4 open channels each
holding an exclusive queue.  RabbitMQ 3.10.8: ~2.7 ms median here; amqpish: ~0.5 ms.  Not a
bug: aio-pika's test_create_channels_during_reconnect races its own reconnect against this
reply and passes only when close-ok takes a few ms (it passes against amqpish behind a proxy
that delays close-ok by 20 ms).

    python close_ok_latency.py PORT        (needs pika)
"""

import statistics
import struct
import sys
import time

import pika

port = int(sys.argv[1])
lat = []
for _ in range(20):
    c = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/"))
    for _ in range(4):
        c.channel().queue_declare("", exclusive=True)
    sock = c._impl._transport._sock
    sock.setblocking(True)
    payload = struct.pack(">HHH", 10, 50, 200) + b"\x00" + struct.pack(">HH", 0, 0)
    t0 = time.perf_counter()
    sock.sendall(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")
    got = b""
    while b"\x00\x0a\x00\x33" not in got:
        got += sock.recv(4096)
    lat.append((time.perf_counter() - t0) * 1000)
    sock.close()
print(f"close-ok latency: median {statistics.median(lat):.2f} ms, min {min(lat):.2f} ms")
