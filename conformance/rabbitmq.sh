#!/usr/bin/env bash
# Runs the conformance suite against a private, throw-away RabbitMQ node.
#
#   bash conformance/rabbitmq.sh record        record conformance/expected/rabbitmq-3.x.json
#   bash conformance/rabbitmq.sh check [ARGS]  run the suite in --compare mode (extra ARGS go to the runner)
#   bash conformance/rabbitmq.sh start|stop    leave a node running (for writing scenarios), stop it
#
# The node never touches the Debian default node or ports 5672/15672: it listens on
# 127.0.0.1:$CONFORMANCE_RMQ_PORT (5700), management on $CONFORMANCE_RMQ_MGMT_PORT (15700),
# Erlang distribution on $CONFORMANCE_RMQ_DIST_PORT (25700), with its data under a temp dir.
# rabbitmq-server is installed with apt-get when missing (its service kept from starting).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PORT=${CONFORMANCE_RMQ_PORT:-5700}
MGMT_PORT=${CONFORMANCE_RMQ_MGMT_PORT:-15700}
DIST_PORT=${CONFORMANCE_RMQ_DIST_PORT:-25700}
NODE=${CONFORMANCE_RMQ_NODE:-conformance@localhost}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
EXPECTED=${CONFORMANCE_EXPECTED:-conformance/expected/rabbitmq-3.x.json}
STATE_FILE=/tmp/amqpish-conformance-rmq.base

as_rabbitmq() {
  if [ "$(id -u)" = 0 ]; then
    su rabbitmq -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

install_rabbitmq() {
  if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "rabbitmq-server is not installed and this is not root: install it first" >&2
    exit 1
  fi
  echo "installing rabbitmq-server (Debian package), its service kept from starting"
  local policy=/usr/sbin/policy-rc.d had_policy=0
  if [ -e "$policy" ]; then had_policy=1; cp "$policy" "$policy.conformance-saved"; fi
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show rabbitmq-server >/dev/null 2>&1; then apt-get update -q; fi
  local rc=0
  apt-get install -y -q --no-install-recommends rabbitmq-server || rc=$?
  if [ "$had_policy" = 1 ]; then mv "$policy.conformance-saved" "$policy"; else rm -f "$policy"; fi
  [ "$rc" = 0 ] || exit "$rc"
  # A service started anyway by an init system that ignores policy-rc.d would hold 5672.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
    systemctl stop rabbitmq-server || true
  fi
}

node_env() {
  export RABBITMQ_NODENAME=$NODE
  export RABBITMQ_NODE_PORT=$PORT
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_DIST_PORT=$DIST_PORT
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE=$BASE/mnesia
  export RABBITMQ_LOG_BASE=$BASE/log
  export RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/enabled_plugins
  export RABBITMQ_CONFIG_FILE=$BASE/rabbitmq
  export RABBITMQ_PID_FILE=$BASE/pid
  export RABBITMQ_ADVANCED_CONFIG_FILE=$BASE/advanced.config
}

port_free() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PYEOF
}

start_node() {
  for p in "$PORT" "$MGMT_PORT" "$DIST_PORT"; do
    if ! port_free "$p"; then
      echo "port $p is in use: set CONFORMANCE_RMQ_PORT / _MGMT_PORT / _DIST_PORT" >&2
      exit 1
    fi
  done
  BASE=$(mktemp -d /tmp/amqpish-conformance-rmq.XXXXXX)
  echo "$BASE" > "$STATE_FILE"
  node_env
  mkdir -p "$BASE/mnesia" "$BASE/log"
  echo '[rabbitmq_management].' > "$BASE/enabled_plugins"
  echo '[].' > "$BASE/advanced.config"
  cat > "$BASE/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
loopback_users = none
management.tcp.port = $MGMT_PORT
management.tcp.ip = 127.0.0.1
vm_memory_high_watermark.relative = 0.4
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = warning
CONF
  chmod 755 "$BASE"
  if [ "$(id -u)" = 0 ]; then chown -R rabbitmq:rabbitmq "$BASE"; fi
  echo "starting RabbitMQ node $NODE on 127.0.0.1:$PORT (management :$MGMT_PORT), data in $BASE"
  as_rabbitmq "cd /var/lib/rabbitmq 2>/dev/null || cd /tmp; /usr/lib/rabbitmq/bin/rabbitmq-server -detached"
  as_rabbitmq "/usr/lib/rabbitmq/bin/rabbitmqctl -q -n $NODE wait $BASE/pid --timeout 120" >/dev/null
  # the management listener comes up slightly after the node reports ready
  "$PY" - "$MGMT_PORT" <<'PYEOF'
import socket, sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("management listener did not come up")
PYEOF
  as_rabbitmq "/usr/lib/rabbitmq/bin/rabbitmqctl -q -n $NODE version" | sed 's/^/RabbitMQ version: /'
}

stop_node() {
  [ -f "$STATE_FILE" ] || return 0
  BASE=$(cat "$STATE_FILE")
  node_env
  as_rabbitmq "/usr/lib/rabbitmq/bin/rabbitmqctl -q -n $NODE stop $BASE/pid" >/dev/null 2>&1 || true
  case "$BASE" in /tmp/amqpish-conformance-rmq.*) rm -rf "$BASE" ;; esac
  rm -f "$STATE_FILE"
}

run_suite() {
  cd "$ROOT"
  "$PY" -m conformance --url "amqp://guest:guest@127.0.0.1:$PORT/" \
    --mgmt-url "http://guest:guest@127.0.0.1:$MGMT_PORT" "$@"
}

cmd=${1:-record}
shift || true
case "$cmd" in
record)
  install_rabbitmq
  trap stop_node EXIT
  start_node
  run_suite --record "$EXPECTED" "$@"
  ;;
check)
  install_rabbitmq
  trap stop_node EXIT
  start_node
  run_suite --compare "$EXPECTED" "$@"
  ;;
start)
  install_rabbitmq
  start_node
  echo "url: amqp://guest:guest@127.0.0.1:$PORT/  mgmt: http://guest:guest@127.0.0.1:$MGMT_PORT"
  ;;
stop) stop_node ;;
*)
  echo "usage: $0 record|check|start|stop" >&2
  exit 2
  ;;
esac
