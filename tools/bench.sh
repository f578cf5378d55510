#!/usr/bin/env bash
# Runs ../shared/bench against RabbitMQ (private node on 5682) and amqpish (5690) side by side,
# interleaved in one run. Usage: tools/bench.sh [SCENARIOS]  (env: REPEAT, DURATION)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
SCEN=${1:-${SCENARIOS:-a,b,c,d,e,f,g,h,i,j}}
export REPEAT=${REPEAT:-3} SCENARIOS=$SCEN
if ! command -v rabbitmq-server >/dev/null && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  [ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server
fi
DATA=$(mktemp -d /tmp/amqpish-bench.XXXXXX)
ulimit -n "$(ulimit -Hn)"
.venv/bin/python -m amqpish serve --port 5690 --http-port 0 --data-dir "$DATA" --log-json 2>"$DATA/broker.log" &
APID=$!
cleanup() { kill "$APID" 2>/dev/null || true; sh "$BENCH/rmq_node.sh" stop >/dev/null 2>&1 || true; rm -rf "$DATA"; }
trap cleanup EXIT
sh "$BENCH/rmq_node.sh" start >/dev/null
until grep -q broker_ready "$DATA/broker.log"; do sleep 0.2; done
echo "# t1 = RabbitMQ 127.0.0.1:5682, t2 = amqpish 127.0.0.1:5690; REPEAT=$REPEAT scenarios=$SCEN"
bash "$BENCH/run_all.sh" 127.0.0.1 5682 127.0.0.1 5690
