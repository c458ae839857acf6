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

. .ci/benchlib.sh
[ "${REPLICAS_BUILD:-1}" = 0 ] || bench_build

start_postgres
sql postgres "CREATE DATABASE replicas" >/dev/null
dsn="host=$tmp/pg user=gatehouse dbname=replicas sslmode=disable"

# start_server NAME BACKEND: starts bin/gatehouse with its own data and
# plugin cache, sets NAME_origin.
start_server() {
  local port
  port=$(free_port)
  start_gatehouse "$port" "$tmp/server-$1.log" GATEHOUSE_STORAGE__BACKEND="$2" GATEHOUSE_STORAGE__DIR="$tmp/data-$1" \
    GATEHOUSE_STORAGE__POSTGRES__DSN="$dsn" GATEHOUSE_PLUGINS__CACHE_DIR="$tmp/wasm-cache-$1" \
    GATEHOUSE_REGISTRATION__CUSTOM_SCOPES=catalog.read
  printf -v "$1_origin" '%s' "http://127.0.0.1:$port"
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
  cc_script "$tmp/cc.lua" "$(cc_basic "$1/api/auth" replicas)"
  wrk -t2 -c64 -d"$duration" --latency -s "$tmp/cc.lua" "$1/api/auth/v1/token" >"$tmp/wrk.txt"
  echo "$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt") $(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")"
}

echo "== one replica on PostgreSQL"
start_server a postgres
a_pid=$pid
la1=$(loadavg)
# The CPU time the server and PostgreSQL spend per exchange does not
# depend on what else the machine runs, unlike the rate.
exchange "$a_origin" "$concurrency" "$tmp/one.txt" "$a_pid,$pg_pid"
read -r pg_cc_rate pg_cc_p99 <<<"$(cc "$a_origin")"
echo "== client_credentials on Badger"
start_server badger badger
read -r bg_cc_rate bg_cc_p99 <<<"$(cc "$badger_origin")"
stop_gatehouse "$pid" "$tmp/server-badger.log" || true

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
echo "  CPU of server + PostgreSQL: $(field "$tmp/one.txt" cpu) ms per exchange ($(mint_cpu "$tmp/one.txt") ms per authorize+approve); of the load generator: $(field "$tmp/one.txt" generator) ms per exchange"
echo "client_credentials: postgres $pg_cc_rate/s p99 $pg_cc_p99; badger $bg_cc_rate/s p99 $bg_cc_p99"
echo "two replicas: code exchange $two_rate/s together; A p99 $(field "$tmp/two-a.txt" p99), B p99 $(field "$tmp/two-b.txt" p99) (c=$(( concurrency / 2 )) each, load $la2)"
echo "server errors logged: $errors"
echo "target: code exchange >= 1500/s on one replica"
