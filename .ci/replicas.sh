#!/usr/bin/env bash
# Throughput on PostgreSQL (make bench runs it after growth.sh): on a
# throw-away PostgreSQL with durable commits (fsync on, synchronous_commit
# on), sharing the machine's cores with the servers,
#   1. the authorization-code exchange on one replica (gatehouse-load,
#      REPLICAS_CODES codes at REPLICAS_CONCURRENCY);
#   2. client_credentials on that replica and on a Badger server (wrk,
#      REPLICAS_DURATION), when wrk is installed;
#   3. the exchange on two replicas on the same database at once, each
#      given half the concurrency: the sum of their rates, and each p99.
# Figures are printed with the load average; the script fails only if
# something fails outright.
set -euo pipefail
cd "$(dirname "$0")/.."

codes=${REPLICAS_CODES:-2000}
concurrency=${REPLICAS_CONCURRENCY:-64}
duration=${REPLICAS_DURATION:-10s}
plugins_dir=${LOAD_PLUGINS_DIR:-$PWD/plugins/bin}

if [ "${REPLICAS_BUILD:-1}" != 0 ]; then
  echo "== building"
  go build -o bin/gatehouse ./cmd/gatehouse
  go build -o bin/gatehouse-load ./cmd/gatehouse-load
fi

tmp=$(mktemp -d)
pids=()
pg_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then kill -INT "$pg_pid"; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "replicas: PostgreSQL binaries not found (make deps-test installs them)" >&2; exit 1; }
sql() { "$bin/psql" -h "$tmp/pg" -U gatehouse -d "$1" -Atc "$2"; }
as=()
mkdir -p "$tmp/pg"
chmod 755 "$tmp"
if [ "$(id -u)" = 0 ]; then
  chown nobody "$tmp/pg"
  as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
fi
"${as[@]}" "$bin/initdb" -D "$tmp/pg/data" -U gatehouse --auth=trust --encoding=UTF8 --locale=C >"$tmp/pg/initdb.log" 2>&1 ||
  { echo "replicas: initdb failed:" >&2; cat "$tmp/pg/initdb.log" >&2; exit 1; }
"${as[@]}" "$bin/postgres" -D "$tmp/pg/data" -k "$tmp/pg" -c listen_addresses= -c fsync=on \
  -c max_connections=100 -c shared_buffers=32MB >"$tmp/pg/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 300); do sql postgres 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(sql postgres "SHOW fsync")/$(sql postgres "SHOW synchronous_commit")" = on/on ] ||
  { echo "replicas: PostgreSQL did not start durable:" >&2; cat "$tmp/pg/postgres.log" >&2; exit 1; }
sql postgres "CREATE DATABASE replicas" >/dev/null
dsn="host=$tmp/pg user=gatehouse dbname=replicas sslmode=disable"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
# start_server NAME BACKEND: starts bin/gatehouse, sets NAME_origin.
start_server() {
  local port origin
  port=$(free_port)
  origin="http://127.0.0.1:$port"
  env GATEHOUSE_SERVER__ADDR="127.0.0.1:$port" \
    GATEHOUSE_SERVER__PUBLIC_URL="$origin" \
    GATEHOUSE_STORAGE__BACKEND="$2" \
    GATEHOUSE_STORAGE__DIR="$tmp/data-$1" \
    GATEHOUSE_STORAGE__POSTGRES__DSN="$dsn" \
    GATEHOUSE_PLUGINS__DIR="$plugins_dir" \
    GATEHOUSE_PLUGINS__CACHE_DIR="$tmp/wasm-cache-$1" \
    GATEHOUSE_PLUGINS__WATCH=false \
    GATEHOUSE_RATE_LIMIT__TOKEN_PER_SECOND=1000000 \
    GATEHOUSE_RATE_LIMIT__TOKEN_BURST=1000000 \
    GATEHOUSE_RATE_LIMIT__AUTHORIZE_PER_SECOND=1000000 \
    GATEHOUSE_RATE_LIMIT__AUTHORIZE_BURST=1000000 \
    GATEHOUSE_REGISTRATION__CUSTOM_SCOPES=catalog.read \
    ./bin/gatehouse serve >"$tmp/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$origin/readyz")" = 200 ] && { printf -v "$1_origin" '%s' "$origin"; return; }
    sleep 0.05
  done
  echo "replicas: gatehouse $1 not ready after 30 s:" >&2; tail -30 "$tmp/server-$1.log" >&2; exit 1
}
# exchange ORIGIN CONCURRENCY OUT [PIDS]: the code exchange on one
# server; with PIDS, the CPU time those processes (and their children)
# spent per operation.
exchange() {
  ./bin/gatehouse-load -issuer "$1/api/auth" -codes "$codes" -c "$2" -timeout 15m ${4:+-cpu-pids "$4"} >"$3"
  cat "$3"
}
field() { awk -v f="$2" '/authorization_code exchange/ { for (i = 1; i <= NF; i++) { if (f == "rate" && $i == "ops/s") print $(i-1); if ($i == f) print $(i+1) } }' "$1"; }
mint_cpu() { awk '/authorize\+approve/ { for (i = 1; i <= NF; i++) if ($i == "cpu") print $(i+1) }' "$1"; }

# cc ORIGIN: client_credentials through wrk, "rate p99".
cc() {
  command -v wrk >/dev/null || { echo "- -"; return; }
  local reg id secret basic
  reg=$(curl -fsS -X POST "$1/api/auth/v1/register" -H 'Content-Type: application/json' \
    -d '{"client_name":"replicas","grant_types":["client_credentials"],"scope":"catalog.read"}')
  id=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$reg")
  secret=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$reg")
  basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
  cat >"$tmp/cc.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
EOF
  wrk -t2 -c64 -d"$duration" --latency -s "$tmp/cc.lua" "$1/api/auth/v1/token" >"$tmp/wrk.txt"
  echo "$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt") $(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")"
}

echo "== one replica on PostgreSQL"
start_server a postgres
a_pid=${pids[-1]}
la1=$(loadavg)
# The CPU time the server and PostgreSQL spend per exchange does not
# depend on what else the machine runs, unlike the rate.
exchange "$a_origin" "$concurrency" "$tmp/one.txt" "$a_pid,$pg_pid"
read -r pg_cc_rate pg_cc_p99 <<<"$(cc "$a_origin")"
echo "== client_credentials on Badger"
start_server badger badger
read -r bg_cc_rate bg_cc_p99 <<<"$(cc "$badger_origin")"
kill "${pids[-1]}"; wait "${pids[-1]}" || true; unset 'pids[-1]'

echo "== two replicas on the same database"
start_server b postgres
la2=$(loadavg)
exchange "$a_origin" $(( concurrency / 2 )) "$tmp/two-a.txt" &
ea=$!
exchange "$b_origin" $(( concurrency / 2 )) "$tmp/two-b.txt" &
eb=$!
wait "$ea"; wait "$eb"
two_rate=$(awk -v a="$(field "$tmp/two-a.txt" rate)" -v b="$(field "$tmp/two-b.txt" rate)" 'BEGIN { print a + b }')
errors=$(cat "$tmp"/server-*.log | grep -c 'level=ERROR' || true)

echo
echo "== results ($(nproc) cores shared by the servers, PostgreSQL and the load; fsync and synchronous_commit on)"
echo "one replica:  code exchange $(field "$tmp/one.txt" rate)/s p50 $(field "$tmp/one.txt" p50) p99 $(field "$tmp/one.txt" p99) (c=$concurrency, load $la1)"
echo "  CPU of server + PostgreSQL: $(field "$tmp/one.txt" cpu) ms per exchange ($(mint_cpu "$tmp/one.txt") ms per authorize+approve)"
echo "client_credentials: postgres $pg_cc_rate/s p99 $pg_cc_p99; badger $bg_cc_rate/s p99 $bg_cc_p99"
echo "two replicas: code exchange $two_rate/s together; A p99 $(field "$tmp/two-a.txt" p99), B p99 $(field "$tmp/two-b.txt" p99) (c=$(( concurrency / 2 )) each, load $la2)"
echo "server errors logged: $errors"
echo "target: code exchange >= 1500/s on one replica"
