"""The web UI in a real headless Chromium, driven over the DevTools protocol.

Logs in through the form, watches a queue appear, purges it, publishes and gets a
message through the forms, force-closes a connection, and saves screenshots of the
overview and a queue page under test-artifacts/ (look at them).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from tests.management.cdp import Browser, find_chromium
from tests.management.helpers import Api, q, wait_for
from tests.support import ROOT, BrokerProcess

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    b = Browser(binary)
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture(scope="module")
def logged_in(browser: Browser, mgmt_broker: BrokerProcess) -> str:
    base = f"http://127.0.0.1:{mgmt_broker.http_port}"
    browser.navigate(base + "/")
    assert browser.eval("location.pathname") == "/login"
    browser.eval("document.querySelector('#username').value = 'guest'")
    browser.eval("document.querySelector('#password').value = 'wrong'")
    browser.submit("form", "#login")
    assert "Login failed" in browser.eval("document.body.innerText")
    browser.eval("document.querySelector('#username').value = 'guest'")
    browser.eval("document.querySelector('#password').value = 'guest'")
    browser.submit("form", "#login")
    assert browser.eval("location.pathname") == "/"
    assert browser.eval("document.querySelector('h1').textContent") == "Overview"
    return base


def text(browser: Browser) -> str:
    return str(browser.eval("document.body.innerText"))


def test_overview_is_live(browser: Browser, logged_in: str, mgmt_broker: BrokerProcess) -> None:
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", mgmt_broker.port))
    ch = conn.channel()
    name = f"ui-load-{uuid.uuid4().hex[:6]}"
    ch.queue_declare(name)
    browser.navigate(logged_in + "/")
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:  # a few seconds of traffic for the charts
        for _ in range(50):
            ch.basic_publish("", name, b"payload")
        conn.process_data_events(time_limit=0.05)
    browser.wait_for("document.documentElement.getAttribute('data-live') === 'ok'")
    browser.wait_for(
        "parseFloat(document.querySelector('[data-field=\"message_stats.publish_details.rate\"]').textContent) > 0"
    )
    points = browser.eval(
        "document.querySelectorAll('figure.chart polyline')[0].getAttribute('points').length"
    )
    assert points > 0
    browser.screenshot(ARTIFACTS / "overview.png")
    conn.close()
    Api(mgmt_broker.http_port).delete(f"/api/queues/%2F/{name}")


def test_queue_appears_purge_publish_get(
    browser: Browser, logged_in: str, mgmt_broker: BrokerProcess
) -> None:
    api = Api(mgmt_broker.http_port)
    name = f"ui-q-{uuid.uuid4().hex[:6]}"
    browser.navigate(f"{logged_in}/queues?name={name}")
    assert name not in text(browser)
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", mgmt_broker.port))
    ch = conn.channel()
    ch.queue_declare(name, durable=True, arguments={"x-message-ttl": 600000})
    for i in range(3):
        ch.basic_publish("", name, f"m{i}".encode())
    browser.navigate(f"{logged_in}/queues?name={name}")
    assert browser.eval(f"!!document.querySelector('tr[data-key=\"/|{name}\"]')")
    row = browser.eval(f"document.querySelector('tr[data-key=\"/|{name}\"]').innerText")
    assert "TTL" in row and "D" in row

    browser.navigate(f"{logged_in}/queues/%2F/{q(name)}")
    assert browser.eval("document.querySelector('#queue-name').textContent") == name
    browser.wait_for("document.querySelector('#total').textContent.trim() === '3'")
    browser.submit("#purge-form", "#purge")
    assert "Purged 3 message(s)." in text(browser)
    assert api.ok(f"/api/queues/%2F/{name}")["messages"] == 0

    browser.eval(
        "document.querySelector('textarea[name=payload]').value = 'hello from the browser'"
    )
    browser.eval("document.querySelector('input[name=headers]').value = '{\"source\": \"ui\"}'")
    browser.submit("form[action$='/publish']")
    assert "Message published." in text(browser)
    assert api.ok(f"/api/queues/%2F/{name}")["messages"] == 1

    browser.eval(
        "document.querySelector('#get-form select[name=ackmode]').value = 'ack_requeue_false'"
    )
    browser.submit("#get-form")
    got = str(browser.eval("document.querySelector('#got').innerText"))
    assert "hello from the browser" in got and "source" in got
    assert api.ok(f"/api/queues/%2F/{name}")["messages"] == 0

    # something to look at on the queue page: a consumer and a little traffic
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=10)
    consumer.basic_consume(name, lambda c, m, p, b: c.basic_ack(m.delivery_tag))
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        for _ in range(20):
            ch.basic_publish("", name, b"tick")
        conn.process_data_events(time_limit=0.1)
    browser.navigate(f"{logged_in}/queues/%2F/{q(name)}")
    browser.wait_for("document.documentElement.getAttribute('data-live') === 'ok'")
    assert "manual" in str(browser.eval("document.querySelector('#consumers').innerText"))
    browser.screenshot(ARTIFACTS / "queue.png")
    conn.close()
    browser.submit("form[action$='/delete']")
    assert f"Queue '{name}' deleted." in text(browser)
    assert api.get(f"/api/queues/%2F/{name}").status == 404


def test_force_close_a_connection(
    browser: Browser, logged_in: str, mgmt_broker: BrokerProcess
) -> None:
    label = f"ui-victim-{uuid.uuid4().hex[:6]}"
    conn = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", mgmt_broker.port, client_properties={"connection_name": label}
        )
    )
    conn.channel()
    browser.navigate(logged_in + "/connections")
    href = browser.wait_for(
        "Array.from(document.querySelectorAll('#connections tr')).filter(r => r.innerText.includes("
        + json.dumps(label)
        + ")).map(r => r.querySelector('a').getAttribute('href'))[0]"
    )
    browser.navigate(logged_in + href)
    browser.screenshot(ARTIFACTS / "connection.png")
    browser.eval("document.querySelector('#close-reason').value = 'closed from the browser test'")
    browser.submit("#close-form", "#force-close")
    assert "closed from the browser test" in text(browser)
    errors: list[BaseException] = []

    def closed() -> bool:
        try:
            conn.process_data_events(time_limit=0.05)
        except pika.exceptions.AMQPError as e:
            errors.append(e)
        return bool(errors) or not conn.is_open

    wait_for(closed, what="the client to see the close")
    assert errors and "closed from the browser test" in str(errors[0])


def test_pages_render_without_javascript_errors(browser: Browser, logged_in: str) -> None:
    for path in (
        "/exchanges",
        "/exchanges/%2F/amq.default",
        "/exchanges/%2F/amq.topic",
        "/channels",
        "/admin",
        "/queues",
    ):
        browser.navigate(logged_in + path)
        assert "Data taken at" in text(browser), path
        assert browser.eval("document.querySelector('h1') !== null")
    browser.navigate(logged_in + "/admin")
    browser.screenshot(ARTIFACTS / "admin.png")
