"""Durability: a message log behind a small interface, and the definitions file.

``MessageStore`` (``interface.py``) is what the runtime uses; ``SegmentStore`` keeps
it in segment files, ``MemoryStore`` in memory with the same semantics. Durable
definitions (vhosts, users, queues, ...) are one JSON document, see
``definitions.py``. Nothing here imports Trio: ``amqpish.server.persister`` drives a
store from a worker thread.
"""

from amqpish.store.definitions import DefinitionsError, load_definitions, save_definitions
from amqpish.store.interface import (
    MessageStore,
    RecoveredMessage,
    RecoveredState,
    StoreError,
    Truncation,
)
from amqpish.store.memory import MemoryStore
from amqpish.store.segments import SegmentStore

__all__ = [
    "DefinitionsError",
    "MemoryStore",
    "MessageStore",
    "RecoveredMessage",
    "RecoveredState",
    "SegmentStore",
    "StoreError",
    "Truncation",
    "load_definitions",
    "save_definitions",
]
