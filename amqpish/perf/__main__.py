"""``python -m amqpish.perf``: the ``amqpish perf`` command on its own."""

from __future__ import annotations

import sys

from amqpish.perf import main

sys.exit(main())
