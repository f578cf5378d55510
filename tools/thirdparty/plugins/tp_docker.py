"""pytest plugin: point aio-pika's / aiormq's docker-based fixtures at an existing broker.

Their ``tests/conftest.py`` starts a ``mosquito/aiormq-rabbitmq`` container through the
Docker API (``tests/docker_client.py``) and reads the published ports from it.  Loaded with
``-p tp_docker`` (before any conftest is imported), this replaces, in the unmodified
``tests.docker_client`` module, the availability check and the client with a fake whose
``run()`` returns the broker given in the environment:

    TP_AMQP_HOST, TP_AMQP_PORT     the broker's AMQP listener ("5672/tcp")
    TP_AMQPS_PORT                  its TLS listener ("5671/tcp"), if any
    TP_HTTP_PORT                   its management HTTP port ("15672/tcp")

Anything needing real container control (exec rabbitmqctl, kill) raises; run.sh deselects
those tests.
"""

from __future__ import annotations

import itertools
import os

import tests.docker_client as dc  # the library's own module, from its sdist

_ids = itertools.count(1)


def _ports() -> dict[str, int]:
    ports = {"5672/tcp": int(os.environ["TP_AMQP_PORT"])}
    # aiormq's amqp_url fixture builds its amqps URLs eagerly: without a TLS listener they
    # get port 1 (nothing listens there) and run.sh deselects the amqps tests
    ports["5671/tcp"] = int(os.environ.get("TP_AMQPS_PORT") or 1)
    if os.environ.get("TP_HTTP_PORT"):
        ports["15672/tcp"] = int(os.environ["TP_HTTP_PORT"])
    return ports


class ExistingBrokerClient:
    """Stands in for ``DockerClient``: every "container" is the one existing broker."""

    def __init__(self, docker_host_info: object = None) -> None:
        self.docker_host_info = docker_host_info

    def run(self, image: str, ports: list[str], environment: object = None) -> dc.ContainerInfo:
        return dc.ContainerInfo(
            id=f"existing-broker-{next(_ids)}",
            ports=_ports(),
            host=os.environ.get("TP_AMQP_HOST", "127.0.0.1"),
        )

    def kill(self, container_id: str) -> None:
        pass

    def remove(self, container_id: str) -> None:
        pass

    def stop(self, container_id: str, timeout: int = 10) -> None:
        pass

    def _request(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("no container control against an existing broker")


def _check() -> dc.DockerHostInfo:
    return dc.DockerHostInfo(is_tcp=True, host="127.0.0.1", port=0)


dc.DockerClient = ExistingBrokerClient  # type: ignore[misc,assignment]
dc.check_docker_available = _check


# aiormq's sdist ships a tests/conftest.py whose fixtures use ``rabbitmq_container`` and
# ``amqp_direct_url`` without defining them (upstream defines them outside the sdist).  These
# stand in; a conftest that does define them (aio-pika's) takes precedence over a plugin.
import pytest  # noqa: E402
from yarl import URL  # noqa: E402


@pytest.fixture(scope="session")
def rabbitmq_container() -> dc.ContainerInfo:
    return ExistingBrokerClient().run("existing", ["5672/tcp", "5671/tcp"])


@pytest.fixture(scope="session")
def amqp_direct_url(rabbitmq_container: dc.ContainerInfo) -> URL:
    return URL.build(
        scheme="amqp",
        user=os.environ.get("TP_AMQP_USER", "guest"),
        password=os.environ.get("TP_AMQP_PASS", "guest"),
        path="//",
        host=rabbitmq_container.host,
        port=rabbitmq_container.ports["5672/tcp"],
    )
