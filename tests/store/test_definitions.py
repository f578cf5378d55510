"""The definitions file: RabbitMQ's export format, atomic saves, a backup, clear errors."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from amqpish.store import DefinitionsError, load_definitions, save_definitions
from amqpish.store.definitions import backup_path, check_definitions, new_definitions

SAMPLE = (
    Path(__file__).resolve().parents[3]
    / "shared/rabbitmq-samples/management-api/definitions-global-export.json"
)


def example() -> dict[str, Any]:
    doc = new_definitions("3.13.7", "0.1.0")
    doc["users"].append(
        {
            "name": "guest",
            "password_hash": "z0DXd0EHDvxg2Kq8C2pCf0lCDx0W6i6bU3Or2LWFeMXKO9Jz",
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["administrator"],
            "limits": {},
        }
    )
    doc["vhosts"].append({"name": "/"})
    doc["permissions"].append(
        {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    )
    doc["policies"].append(
        {
            "vhost": "/",
            "name": "ttl",
            "pattern": "^ttl\\.",
            "apply-to": "queues",
            "definition": {"message-ttl": 60000},
            "priority": 0,
        }
    )
    doc["exchanges"].append(
        {
            "name": "orders",
            "vhost": "/",
            "type": "topic",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {"alternate-exchange": "unrouted"},
        }
    )
    doc["queues"].append(
        {
            "name": "orders.eu",
            "vhost": "/",
            "durable": True,
            "auto_delete": False,
            "arguments": {"x-max-length": 1000, "x-queue-type": "classic"},
        }
    )
    doc["bindings"].append(
        {
            "source": "orders",
            "vhost": "/",
            "destination": "orders.eu",
            "destination_type": "queue",
            "routing_key": "eu.#",
            "arguments": {},
        }
    )
    return doc


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert load_definitions(tmp_path / "definitions.json") is None


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data" / "definitions.json"  # the directory is created
    doc = example()
    save_definitions(path, doc)
    assert load_definitions(path) == doc
    assert json.loads(path.read_text()) == doc  # plain JSON, readable by anyone


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared RabbitMQ samples not present")
def test_a_rabbitmq_export_round_trips(tmp_path: Path) -> None:
    doc = json.loads(SAMPLE.read_text())["response"]
    # the sample's lists were trimmed for size, leaving "... N more trimmed" markers
    for key, value in doc.items():
        if isinstance(value, list):
            doc[key] = [item for item in value if isinstance(item, dict)]
    assert check_definitions(doc) is None
    save_definitions(tmp_path / "d.json", doc)
    assert load_definitions(tmp_path / "d.json") == doc


def test_the_previous_version_is_kept_as_backup(tmp_path: Path) -> None:
    path = tmp_path / "definitions.json"
    first = example()
    save_definitions(path, first)
    assert not backup_path(path).exists()
    second = copy.deepcopy(first)
    second["queues"].append({"name": "q2", "vhost": "/", "durable": True})
    save_definitions(path, second)
    assert load_definitions(path) == second
    assert json.loads(backup_path(path).read_text()) == first
    save_definitions(path, first)
    assert json.loads(backup_path(path).read_text()) == second
    # no temp files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "definitions.json",
        "definitions.json.bak",
    ]


def test_a_corrupt_file_is_a_clear_error_and_the_backup_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "definitions.json"
    first = example()
    save_definitions(path, first)
    save_definitions(path, new_definitions("3.13.7", "0.1.0"))
    path.write_text('{"queues": [\n  {"name": "x", ')  # e.g. a disk that lost the tail
    with pytest.raises(DefinitionsError) as info:
        load_definitions(path)
    message = str(info.value)
    assert str(path) in message
    assert "invalid JSON at line 2" in message
    assert str(backup_path(path)) in message
    assert info.value.backup == backup_path(path)
    with capture_logs() as logs:
        assert load_definitions(path, use_backup=True) == first
    assert logs[0]["event"] == "definitions_damaged_using_backup"


def test_a_corrupt_file_without_backup(tmp_path: Path) -> None:
    path = tmp_path / "definitions.json"
    path.write_bytes(b"\xff\xfe not json")
    with pytest.raises(DefinitionsError, match="not UTF-8") as info:
        load_definitions(path, use_backup=True)
    assert info.value.backup is None


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "expected a JSON object, found list"),
        ({"queues": {}}, "'queues' must be a list"),
        ({"queues": ["q"]}, "queues[0] must be an object"),
        ({"bindings": [{"source": "x", "vhost": "/"}]}, "bindings[0] lacks destination"),
    ],
)
def test_wrong_shapes_are_named(tmp_path: Path, doc: Any, problem: str) -> None:
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DefinitionsError) as info:
        load_definitions(path)
    assert problem in str(info.value)


def test_a_bad_document_never_touches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "definitions.json"
    save_definitions(path, example())
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_definitions(path, {"queues": [{"name": "q", "vhost": "/", "bad": object()}]})
    with pytest.raises(ValueError, match="not a definitions document"):
        save_definitions(path, {"queues": "nope"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["definitions.json"]


def test_an_interrupted_save_leaves_the_old_document(tmp_path: Path) -> None:
    path = tmp_path / "definitions.json"
    save_definitions(path, example())
    # what a crash before the rename leaves: a temp file beside the real one
    (tmp_path / ".definitions.json.abc.tmp").write_text('{"half": ')
    assert load_definitions(path) == example()


def test_saving_replaces_by_rename(tmp_path: Path) -> None:
    # a reader holding the old file keeps seeing a complete old document
    path = tmp_path / "definitions.json"
    save_definitions(path, example())
    with path.open() as reader:
        inode = os.fstat(reader.fileno()).st_ino
        save_definitions(path, new_definitions("3.13.7", "0.1.0"))
        assert json.load(reader) == example()
    assert os.stat(path).st_ino != inode
