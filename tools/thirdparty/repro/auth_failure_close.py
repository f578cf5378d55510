"""Failed login: the broker sends connection.close 403 and must then wait for the client's
connection.close-ok before closing TCP (AMQP 0-9-1: the peer that sends Close waits for
Close-Ok).  RabbitMQ 3.10.8 keeps the socket open until the close-ok arrives (or ~3 s);
amqpish closes it within a millisecond, so a client that answers close-ok writes into a
closed socket, gets ECONNRESET and may report that instead of ACCESS_REFUSED (rabbitpy's
AccessDeniedDuringConnectionTests fails about half the time against amqpish).

    python auth_failure_close.py PORT
"""

import socket
import struct
import sys
import time


def table(d: dict) -> bytes:
    out = b""
    for k, v in d.items():
        out += bytes([len(k)]) + k.encode()
        if isinstance(v, bool):
            out += b"t" + bytes([v])
        elif isinstance(v, dict):
            t = table(v)
            out += b"F" + struct.pack(">I", len(t)) + t
    return out


port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"AMQP\x00\x00\x09\x01")
time.sleep(0.3)
s.recv(65536)  # connection.start
props = table({"capabilities": {"authentication_failure_close": True}})
resp = b"\x00nosuchuser\x00wrongpass"
payload = (
    struct.pack(">HH", 10, 11)
    + struct.pack(">I", len(props))
    + props
    + b"\x05PLAIN"
    + struct.pack(">I", len(resp))
    + resp
    + b"\x05en_US"
)
s.sendall(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")
t0 = time.monotonic()
data = b""
s.settimeout(5)
try:
    while True:
        d = s.recv(65536)
        if not d:
            print(
                f"broker closed TCP (FIN) {time.monotonic() - t0:.3f}s after start-ok,"
                " without waiting for close-ok"
            )
            break
        data += d
except ConnectionResetError:
    print(f"broker reset TCP {time.monotonic() - t0:.3f}s after start-ok (no close-ok came)")
except TimeoutError:
    print("socket still open after 5 s (waiting for close-ok)")
cls, meth, code = struct.unpack(">HHH", data[7:13])
print(f"received connection.close (class {cls} method {meth}) reply-code {code}")
