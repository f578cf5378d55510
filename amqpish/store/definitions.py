"""Durable definitions: one JSON document in RabbitMQ's definitions format.

Vhosts, users (with password hashes and tags), permissions, policies, durable
exchanges and queues (with arguments) and the bindings between them are kept as one
document shaped like RabbitMQ's ``GET /api/definitions`` export, so the file can be
imported into RabbitMQ, and a RabbitMQ export can seed a data directory. It is small
and changes rarely (declares, deletes, user and policy changes), so every change
rewrites it whole; the message log is elsewhere (``segments.py``).

``save_definitions`` writes a temp file in the same directory and fsyncs it,
hard-links the current file to ``<name>.bak``, renames the temp file over the current
one and fsyncs the directory. Rename is atomic, so after a crash the file is the old
document or the new one, never a mix, and ``.bak`` holds the version before it.

``load_definitions`` returns None when there is no file. A file that cannot be read
as a definitions document raises ``DefinitionsError`` saying which file, what is
wrong and where the backup is; ``use_backup=True`` falls back to the backup instead
(logged), for an operator who prefers the previous definitions to not starting.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("amqpish.store")

# The keys of an export whose values are lists of objects.
LIST_KEYS = (
    "users",
    "vhosts",
    "permissions",
    "topic_permissions",
    "parameters",
    "global_parameters",
    "policies",
    "queues",
    "exchanges",
    "bindings",
)

# Fields without which an entry means nothing (the export has more, all optional here).
_REQUIRED = {
    "users": ("name",),
    "vhosts": ("name",),
    "permissions": ("user", "vhost"),
    "policies": ("vhost", "name", "pattern", "definition"),
    "queues": ("name", "vhost"),
    "exchanges": ("name", "vhost", "type"),
    "bindings": ("source", "vhost", "destination", "destination_type"),
}


class DefinitionsError(Exception):
    """The definitions file cannot be used; says which file and why."""

    def __init__(self, path: Path, reason: str, backup: Path | None = None) -> None:
        self.path = path
        self.reason = reason
        self.backup = backup
        hint = f"; the previous version is in {backup}" if backup is not None else ""
        super().__init__(f"definitions file {path}: {reason}{hint}")


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def new_definitions(rabbit_version: str, product_version: str) -> dict[str, Any]:
    """An empty document with every list an export has."""
    doc: dict[str, Any] = {
        "rabbit_version": rabbit_version,
        "rabbitmq_version": rabbit_version,
        "product_name": "amqpish",
        "product_version": product_version,
    }
    for key in LIST_KEYS:
        doc[key] = []
    return doc


def check_definitions(doc: object) -> str | None:
    """What is wrong with ``doc`` as a definitions document, or None."""
    if not isinstance(doc, dict):
        return f"expected a JSON object, found {type(doc).__name__}"
    for key in LIST_KEYS:
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"{key!r} must be a list"
        required = _REQUIRED.get(key, ())
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                return f"{key}[{i}] must be an object"
            missing = [f for f in required if f not in item]
            if missing:
                return f"{key}[{i}] lacks {', '.join(missing)}"
    return None


def save_definitions(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    """Replace the definitions file with ``doc``, atomically and durably."""
    path = Path(path)
    problem = check_definitions(doc)
    if problem is not None:
        raise ValueError(f"not a definitions document: {problem}")
    # encode first: a document that cannot be serialised must not touch the files
    data = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if path.exists():
            _keep_backup(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _keep_backup(path: Path) -> None:
    """Point ``.bak`` at the current version before it is replaced.

    A hard link costs no copy and the current file is complete (it was itself
    renamed into place); it is made under a temp name and renamed so that ``.bak`` is
    never a half-written file either.
    """
    bak = backup_path(path)
    tmp = bak.with_name(bak.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        # a filesystem without hard links: copy, and make the copy durable
        shutil.copyfile(path, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, bak)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DefinitionsError(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise DefinitionsError(path, f"not UTF-8 text at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise DefinitionsError(
            path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    problem = check_definitions(doc)
    if problem is not None:
        raise DefinitionsError(path, problem)
    assert isinstance(doc, dict)
    return doc


def load_definitions(
    path: str | os.PathLike[str], *, use_backup: bool = False
) -> dict[str, Any] | None:
    """The saved document; None if there is none. Raises ``DefinitionsError`` for a
    damaged file, or with ``use_backup`` falls back to the previous version."""
    path = Path(path)
    if not path.exists():
        return None
    bak = backup_path(path)
    try:
        return _read(path)
    except DefinitionsError as exc:
        if not bak.exists():
            raise
        if not use_backup:
            raise DefinitionsError(path, exc.reason, bak) from exc
        log.error(
            "definitions_damaged_using_backup", path=str(path), reason=exc.reason, backup=str(bak)
        )
        return _read(bak)
