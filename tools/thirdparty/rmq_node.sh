#!/bin/sh
# Start/stop a private RabbitMQ node (Debian's rabbitmq-server) for the third-party suites.
# Same recipe as shared/bench/rmq_node.sh, plus the management plugin on PORT+10000
# (the suites of amqpstorm and others use the HTTP API).
#   tools/thirdparty/rmq_node.sh start|stop|status [PORT]     (default 5731 -> http 15731, dist 25731)
set -e
PORT=${2:-5731}
HTTP_PORT=$((PORT + 10000))
BASE=${RMQ_TP_BASE:-/tmp/rmq-thirdparty}
NODE=${RMQ_TP_NODE:-thirdparty@localhost}
export RABBITMQ_NODENAME=$NODE
export RABBITMQ_NODE_PORT=$PORT
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=$((PORT + 20000))
export RABBITMQ_MNESIA_BASE=$BASE/mnesia
export RABBITMQ_LOG_BASE=$BASE/log
export RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/enabled_plugins
export RABBITMQ_CONFIG_FILE=$BASE/rabbitmq
export RABBITMQ_PID_FILE=$BASE/pid
case "$1" in
start)
  mkdir -p $BASE/mnesia $BASE/log
  echo '[rabbitmq_management].' > $BASE/enabled_plugins
  cat > $BASE/rabbitmq.conf <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $HTTP_PORT
loopback_users = none
vm_memory_high_watermark.relative = 0.4
disk_free_limit.absolute = 1GB
log.console = false
log.file.level = warning
CONF
  chown -R rabbitmq:rabbitmq $BASE 2>/dev/null || true
  if [ "$(id -u)" = 0 ]; then
    su rabbitmq -s /bin/sh -c "ulimit -n \$(ulimit -Hn); cd /var/lib/rabbitmq; /usr/lib/rabbitmq/bin/rabbitmq-server -detached"
  else
    ulimit -n "$(ulimit -Hn)"; rabbitmq-server -detached
  fi
  rabbitmqctl -n $NODE wait $BASE/pid --timeout 120
  rabbitmqctl -n $NODE status | head -12
  ;;
stop) rabbitmqctl -n $NODE stop ;;
status) rabbitmqctl -n $NODE status ;;
*) echo "usage: $0 start|stop|status [PORT]"; exit 2 ;;
esac
