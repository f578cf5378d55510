"""pytest plugin for AMQPStorm's functional tests: its ``amqpstorm/tests/__init__.py``
takes host, user, password, URI and management URL from the environment (AMQP_HOST, ...),
but its helpers call ``Connection(HOST, USERNAME, PASSWORD)`` without a port, i.e. 5672.
This makes the default port of plain (non-TLS) connections ``TP_AMQP_PORT`` instead,
without touching the library's test files."""

from __future__ import annotations

import functools
import os

from amqpstorm.connection import Connection

_orig_init = Connection.__init__


@functools.wraps(_orig_init)
def _init(self, hostname, username, password, port=None, **kwargs):  # type: ignore[no-untyped-def]
    if port is None:
        port = 5671 if kwargs.get("ssl") else int(os.environ["TP_AMQP_PORT"])
    _orig_init(self, hostname, username, password, port, **kwargs)


Connection.__init__ = _init  # type: ignore[method-assign]
