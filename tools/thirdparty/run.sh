#!/usr/bin/env bash
# Run one well-known AMQP 0-9-1 client library's own live-broker test suite, taken from
# its sdist on PyPI, against the broker at TARGET_URL.
#
#   tools/thirdparty/run.sh LIB TARGET_URL [extra pytest args...]
#
#   LIB         amqp | kombu | aiormq | aio-pika | amqpstorm | rabbitpy | celery   (or "list")
#   TARGET_URL  amqp://user:pass@host:port/   (the management API is assumed on port+10000;
#               override with TP_HTTP_PORT)
#
# Environment:
#   TP_HOME      work dir for the sdist cache, unpacked sources, venvs, results
#                (default /tmp/amqpish-thirdparty)
#   TP_VERSION   library version (default: the one recorded in README.md)
#   TP_PYTHON    interpreter for the suite's venv (default python3)
#   TP_AMQPS_PORT  a TLS listener to include the suites' TLS tests (default: they are deselected)
#   TP_TESTS     space-separated test node ids to run instead of the whole suite
#   TP_TIMEOUT   seconds before the pytest run is killed (default 1800)
#
# Exit status: 0 when pytest ran (whatever it counted; read the summary line),
# 3 when the sdist could not be downloaded or the venv not built (callers skip), 4 when
# pytest left no results (e.g. a conftest failed to import), 2 on usage.
# The last line printed is "LIB VERSION: N passed, N failed, N skipped" (errors count as failed);
# JUnit XML goes to $TP_HOME/results/LIB-VERSION-PORT.xml.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TP_HOME=${TP_HOME:-/tmp/amqpish-thirdparty}
PY=${TP_PYTHON:-python3}

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
LIB=$1
[ "$LIB" = list ] && { echo "amqp kombu aiormq aio-pika amqpstorm rabbitpy celery"; exit 0; }
[ $# -ge 2 ] || usage
URL=$2
shift 2

# --- which sdist, which test deps, which tests ------------------------------------------
# Default versions: the newest on PyPI when the results in README.md were recorded.
case "$LIB" in
  amqp)      VER=${TP_VERSION:-5.4.2};  PKG=amqp;      DEPS="pytest" ;;
  kombu)     VER=${TP_VERSION:-5.7.0};  PKG=kombu;     DEPS="pytest amqp" ;;
  aiormq)    VER=${TP_VERSION:-7.2.4};  PKG=aiormq;    DEPS="pytest aiomisc-pytest" ;;
  aio-pika)  VER=${TP_VERSION:-10.2.1}; PKG=aio-pika;  DEPS="pytest aiomisc aiomisc-pytest shortuuid timeout-decorator" ;;
  amqpstorm) VER=${TP_VERSION:-3.1.4};  PKG=amqpstorm; DEPS="pytest requests" ;;
  rabbitpy)  VER=${TP_VERSION:-3.0.2};  PKG=rabbitpy;  DEPS="pytest python-dotenv" ;;
  celery)    VER=${TP_VERSION:-5.7.0};  PKG=celery;    DEPS="pytest pytest-timeout pytest-subtests pytest-order redis pydantic django" ;;
  pika)
    echo "pika: no sdist on PyPI ships pika's tests (checked 0.9.14 .. 1.4.4); nothing to run" >&2
    exit 3 ;;
  *) echo "unknown LIB $LIB" >&2; usage ;;
esac

# --- the broker ---------------------------------------------------------------------------
eval "$("$PY" - "$URL" <<'PYEOF'
import sys, shlex
from urllib.parse import urlsplit, unquote
u = urlsplit(sys.argv[1])
vhost = unquote(u.path[1:]) if len(u.path) > 1 else "/"
for k, v in dict(HOST=u.hostname or "127.0.0.1", PORT=u.port or 5672,
                 USER=unquote(u.username or "guest"), PASS=unquote(u.password or "guest"),
                 VHOST=vhost).items():
    print(f"B_{k}={shlex.quote(str(v))}")
PYEOF
)" || { echo "bad URL $URL" >&2; exit 2; }
B_HTTP=${TP_HTTP_PORT:-$((B_PORT + 10000))}
export TP_AMQP_HOST=$B_HOST TP_AMQP_PORT=$B_PORT TP_HTTP_PORT=$B_HTTP TP_AMQP_USER=$B_USER TP_AMQP_PASS=$B_PASS
export TP_AMQPS_PORT=${TP_AMQPS_PORT:-}

# --- download, unpack, venv ---------------------------------------------------------------
find_sdist() {  # sdist names vary: aio_pika-X.tar.gz, AMQPStorm-X.tar.gz, amqp-X.tar.gz
  local f
  f=$(ls -1 "$TP_HOME/cache" | grep -i -E "^${PKG//-/[-_]}-${VER//./\\.}\\.tar\\.gz\$" | head -1)
  [ -n "$f" ] && echo "$TP_HOME/cache/$f"
}
mkdir -p "$TP_HOME/cache" "$TP_HOME/src" "$TP_HOME/venv" "$TP_HOME/results"
SDIST=$(find_sdist)
if [ -z "$SDIST" ]; then
  "$PY" -m pip download -q --no-binary "$PKG" --no-deps --disable-pip-version-check \
      -d "$TP_HOME/cache" "$PKG==$VER" >"$TP_HOME/cache/download-$LIB.log" 2>&1 \
    || { echo "download of $PKG==$VER failed (see $TP_HOME/cache/download-$LIB.log)" >&2; exit 3; }
  SDIST=$(find_sdist)
  [ -n "$SDIST" ] || { echo "no sdist for $PKG==$VER" >&2; exit 3; }
fi
SRC=$TP_HOME/src/$(basename "$SDIST" .tar.gz)
if [ ! -d "$SRC" ]; then
  tar xzf "$SDIST" -C "$TP_HOME/src" || exit 3
fi
VENV=$TP_HOME/venv/$LIB-$VER
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$PKG==$VER $DEPS" ]; then
  rm -rf "$VENV"
  { "$PY" -m venv "$VENV" &&
    "$VENV/bin/pip" install -q --disable-pip-version-check "$PKG==$VER" $DEPS &&
    echo "$PKG==$VER $DEPS" >"$VENV/.installed"; } >"$TP_HOME/venv/$LIB-$VER.log" 2>&1 \
    || { echo "venv for $LIB failed (see $TP_HOME/venv/$LIB-$VER.log)" >&2; exit 3; }
fi

# --- run ----------------------------------------------------------------------------------
XML=$TP_HOME/results/$LIB-$VER-$B_PORT${TP_TESTS:+-subset}.xml
rm -f "$XML"
ARGS=(-p no:cacheprovider -q -rfEs -W ignore::pytest.PytestUnknownMarkWarning
      --junitxml="$XML" -o junit_family=xunit2)
export PYTHONPATH="$HERE/plugins:$SRC${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
export PATH="$VENV/bin:$PATH"  # suites that spawn their CLI (celery worker)
cd "$SRC"
case "$LIB" in
  amqp)
    # t/integration/test_rmq.py is the live part (test_integration.py mocks the socket).
    # TLS cases need a TLS listener with t/certs (not shipped) or badssl.com: deselected.
    # No reruns (its flaky(reruns=5) marks need pytest-rerunfailures, not installed).
    export RABBITMQ_HOST=$B_HOST RABBITMQ_5672_TCP=$B_PORT
    PATHS=(t/integration/test_rmq.py); ARGS+=(-k "not tls")
    ;;
  kombu)
    export RABBITMQ_HOST=$B_HOST RABBITMQ_5672_TCP=$B_PORT
    PATHS=(t/integration/test_py_amqp.py)
    ;;
  aiormq|aio-pika)
    PATHS=(tests); ARGS+=(-p tp_docker)
    # the amqps/ssl variants need the image's TLS listener and certs
    [ -n "$TP_AMQPS_PORT" ] || ARGS+=(-k "not amqps and not ssl")
    # aio-pika: these stop/kill/restart the broker container (docker exec rabbitmqctl, kill)
    [ "$LIB" = aio-pika ] && ARGS+=(
      --deselect "tests/test_robust_recovery.py::test_restore_topology_and_consumers[stop_app]"
      --deselect "tests/test_robust_recovery.py::test_restore_topology_and_consumers[kill]"
      --deselect tests/test_robust_recovery.py::test_pool_consumer_survives_broker_restart)
    ;;
  amqpstorm)
    export AMQP_HOST=$B_HOST AMQP_USERNAME=$B_USER AMQP_PASSWORD=$B_PASS
    export AMQP_URI="amqp://$B_USER:$B_PASS@$B_HOST:$B_PORT/%2F"
    export AMQP_HTTP_URL="http://$B_HOST:$B_HTTP"
    PATHS=(amqpstorm/tests/functional)
    ARGS+=(-p tp_amqpstorm --ignore=amqpstorm/tests/functional/ssl -k "not ssl")
    # it connects to http://192.168.1.50 (expecting a timeout): no traffic off loopback here
    ARGS+=(--deselect amqpstorm/tests/functional/management/test_api.py::ApiFunctionalTests::test_api_with_inaccessible)
    ;;
  rabbitpy)
    export RABBITMQ_URL="amqp://$B_USER:$B_PASS@$B_HOST:$B_PORT/%2F"
    PATHS=(tests/test_integration.py tests/integration)
    ;;
  celery)
    # Celery's integration suite with the broker as transport and the rpc:// result backend
    # (a matrix entry of Celery's own CI); the files that need no redis/other services.
    export TEST_BROKER="pyamqp://$B_USER:$B_PASS@$B_HOST:$B_PORT//" TEST_BACKEND=rpc
    PATHS=(t/integration/test_tasks.py t/integration/test_inspect.py t/integration/test_worker.py)
    ARGS+=(-p celery.contrib.pytest --timeout 120)
    ;;
esac
# TP_TESTS="node-id ..." runs just those (e.g. to re-run one failure)
[ -n "${TP_TESTS:-}" ] && read -r -a PATHS <<<"$TP_TESTS"
echo "== $LIB $VER against $URL (http $B_HTTP) in $SRC" >&2
timeout "${TP_TIMEOUT:-1800}" "$VENV/bin/python" -m pytest "${ARGS[@]}" "$@" "${PATHS[@]}"
RC=$?
[ -s "$XML" ] || { echo "$LIB $VER: pytest left no results (exit status $RC)" >&2; exit 4; }
"$PY" "$HERE/summarize.py" "$XML" "$LIB $VER" || exit 4
[ "$RC" -le 1 ] || echo "(pytest exit status $RC)" >&2
exit 0
