"""HTTP API: GET /api/healthchecks/node and /api/healthchecks/node/NODE answer
200 {"status":"ok"} in RabbitMQ 3.10.8 (deprecated, still served); amqpish answers 404.
(AMQPStorm's ApiHealthchecksFunctionalTests.)

    python healthchecks_node.py HTTP_PORT
"""

import base64
import json
import sys
import urllib.error
import urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}/api"
auth = "Basic " + base64.b64encode(b"guest:guest").decode()


def get(path: str) -> tuple[int, str]:
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


node = json.loads(get("/overview")[1])["node"]
for path in ("/healthchecks/node", f"/healthchecks/node/{node}"):
    print(path, get(path))
