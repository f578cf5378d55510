"""(Fixed in b828625; kept as a regression check.)
HTTP API: PUT /api/vhosts/NAME made by user U gives U full permissions on the new vhost
in RabbitMQ 3.10.8 (rabbit_mgmt_wm_vhost); amqpish grants none, so U's next
PUT /api/queues/NAME/q is refused (401).  (AMQPStorm's test_api_queue_list_* tests.)

    python vhost_create_permissions.py HTTP_PORT
"""

import base64
import json
import sys
import urllib.error
import urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}/api"
auth = "Basic " + base64.b64encode(b"guest:guest").decode()


def call(method: str, path: str, body: object = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", auth)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


print("PUT vhost       ", call("PUT", "/vhosts/repro-vh"))
print("its permissions ", call("GET", "/vhosts/repro-vh/permissions"))
print("PUT queue in it ", call("PUT", "/queues/repro-vh/q1", {"durable": True}))
print("DELETE vhost    ", call("DELETE", "/vhosts/repro-vh"))
