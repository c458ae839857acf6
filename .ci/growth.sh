#!/usr/bin/env bash
# Cost as data grows (make bench runs it at 10k grants): for each backend
# (GROWTH_BACKENDS, "badger postgres") and size (GROWTH_SIZES, "10000";
# GROWTH_SIZES="10000 100000 1000000" for the whole table), it
#   1. seeds N grants, each with a refresh token, through the store
#      (gatehouse-load seed), expiring GROWTH_TTL after the seed starts;
#   2. starts bin/gatehouse on that data and times process start to
#      /readyz 200;
#   3. measures the authorization-code exchange and one refresh of each of
#      GROWTH_CODES new grants (gatehouse-load -refresh), p50 and p99;
#   4. reads the server's anonymous memory (smaps_rollup Anonymous) and
#      the data's size on disk (the Badger directory; PostgreSQL's
#      pg_total_relation_size of gatehouse_kv and the database's size);
#   5. waits until the seeded records have expired and the server's sweep
#      (PostgreSQL, every GROWTH_SWEEP) or compaction and value-log GC
#      (Badger) has had GROWTH_SETTLE to run, measures the size again, then
#      restarts the server and measures it once more.
# PostgreSQL is a throw-away cluster with durable commits (benchlib.sh),
# started once for every size. Figures are printed with the load average;
# the script fails only if something fails outright.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${GROWTH_SIZES:-10000}
backends=${GROWTH_BACKENDS:-badger postgres}
codes=${GROWTH_CODES:-1000}
concurrency=${GROWTH_CONCURRENCY:-32}
ttl=${GROWTH_TTL:-3m}
sweep=${GROWTH_SWEEP:-5s}
settle=${GROWTH_SETTLE:-60}

. .ci/benchlib.sh
# GROWTH_BUILD=0 measures the binaries already in bin/.
[ "${GROWTH_BUILD:-1}" = 0 ] || bench_build

now_ms() { date +%s%3N; }
ttl_s=$(awk -v t="$ttl" 'BEGIN { n = t + 0; if (t ~ /h$/) n *= 3600; else if (t ~ /m$/) n *= 60; print int(n) }')

pg_dsn=""
port=$(free_port)
origin="http://127.0.0.1:$port"
base="$origin/api/auth"

# start_server BACKEND DATA: starts bin/gatehouse and sets startup_ms.
start_server() {
  local t0
  t0=$(now_ms)
  start_gatehouse "$port" "$tmp/server.log" GATEHOUSE_STORAGE__BACKEND="$1" GATEHOUSE_STORAGE__DIR="$2" \
    GATEHOUSE_STORAGE__POSTGRES__DSN="$pg_dsn" GATEHOUSE_STORAGE__POSTGRES__SWEEP_INTERVAL="$sweep"
  startup_ms=$(( $(now_ms) - t0 ))
}
stop_server() { stop_gatehouse "$pid" "$tmp/server.log" || exit 1; }
anon_mib() { awk '/^Anonymous:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/smaps_rollup"; }
# size_mib BACKEND DATA DB: the data's size on disk.
size_mib() {
  if [ "$1" = badger ]; then
    { du -sk "$2" 2>/dev/null || true; } | awk '{ printf "%.1f", $1 / 1024 }'
  else
    sql "$3" "SELECT round(pg_total_relation_size('gatehouse_kv') / 1048576.0, 1) || ' (db ' || round(pg_database_size(current_database()) / 1048576.0, 1) || ')'"
  fi
}

results=()
for backend in $backends; do
  [ "$backend" = postgres ] && [ -z "$pg_pid" ] && start_postgres
  for n in $sizes; do
    data="$tmp/data-$backend-$n"
    db="growth$n"
    echo "== $backend, $n grants"
    if [ "$backend" = postgres ]; then
      sql postgres "CREATE DATABASE $db"
      pg_dsn="host=$tmp/pg user=gatehouse dbname=$db sslmode=disable"
    fi
    seed_t0=$(date +%s)
    ./bin/gatehouse-load seed -backend "$backend" -dir "$data" -dsn "$pg_dsn" -grants "$n" -ttl "$ttl" | tee "$tmp/seed.txt"
    seed_s=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "in") { sub(/s$/, "", $(i+1)); print $(i+1) } }' "$tmp/seed.txt")
    size_seeded=$(size_mib "$backend" "$data" "$db")

    start_server "$backend" "$data"
    startup1=$startup_ms
    anon_idle=$(anon_mib)
    la=$(loadavg)
    # CPU time per operation (the server's, and PostgreSQL's) does not
    # depend on what else the machine runs, unlike the latencies.
    ./bin/gatehouse-load -issuer "$base" -codes "$codes" -c "$concurrency" -refresh -timeout 15m \
      -cpu-pids "$pid${pg_pid:+,$pg_pid}" | tee "$tmp/load.txt"
    pick() { awk -v name="$1" -v f="$2" 'index($0, name) { for (i = 1; i <= NF; i++) if ($i == f) print $(i+1) }' "$tmp/load.txt"; }
    rate() { awk -v name="$1" 'index($0, name) { for (i = 1; i <= NF; i++) if ($i == "ops/s") print $(i-1) }' "$tmp/load.txt"; }
    ex_rate=$(rate "authorization_code exchange"); ex_p50=$(pick "authorization_code exchange" p50); ex_p99=$(pick "authorization_code exchange" p99)
    rf_rate=$(rate "refresh_token"); rf_p50=$(pick "refresh_token" p50); rf_p99=$(pick "refresh_token" p99)
    ex_cpu=$(pick "authorization_code exchange" cpu); rf_cpu=$(pick "refresh_token" cpu)
    anon_load=$(anon_mib)
    size_loaded=$(size_mib "$backend" "$data" "$db")

    # Expiry: wait out the seeded records, then give the sweep or the
    # compactions time to return the space.
    wait_s=$(( seed_t0 + ttl_s - $(date +%s) ))
    if [ "$wait_s" -gt 0 ]; then echo "== waiting ${wait_s}s for the seeded records to expire"; sleep "$wait_s"; fi
    echo "== expired; waiting ${settle}s for the sweep / garbage collection"
    sleep "$settle"
    size_expired=$(size_mib "$backend" "$data" "$db")
    reclaimed=""
    if [ "$backend" = postgres ]; then
      # The sweep's DELETEs leave the space to PostgreSQL to reuse; only a
      # rewrite of the table (VACUUM FULL, an exclusive lock) returns it.
      rows_left=$(sql "$db" "SELECT count(*) FROM gatehouse_kv")
      sql "$db" "VACUUM FULL gatehouse_kv" >/dev/null
      reclaimed=" ($rows_left rows left; after VACUUM FULL $(size_mib "$backend" "$data" "$db"))"
    fi
    stop_server
    start_server "$backend" "$data"
    startup2=$startup_ms
    sleep 5
    size_restarted=$(size_mib "$backend" "$data" "$db")
    anon_restarted=$(anon_mib)
    stop_server

    results+=("$(printf '%-8s %8s | seed %6ss | start %5sms | exchange %6s/s p50 %-9s p99 %-9s cpu %sms | refresh %6s/s p50 %-9s p99 %-9s cpu %sms | anon MiB idle %5s loaded %5s | MiB seeded %s, after load %s, expired+%ss %s%s, restarted %s (start %sms, anon %s) | load %s' \
      "$backend" "$n" "$seed_s" "$startup1" "$ex_rate" "$ex_p50" "$ex_p99" "$ex_cpu" "$rf_rate" "$rf_p50" "$rf_p99" "$rf_cpu" "$anon_idle" "$anon_load" \
      "$size_seeded" "$size_loaded" "$settle" "$size_expired" "$reclaimed" "$size_restarted" "$startup2" "$anon_restarted" "$la")")
    [ "$backend" = badger ] && rm -rf "$data"
    [ "$backend" = postgres ] && sql postgres "DROP DATABASE $db WITH (FORCE)"
  done
done

echo
echo "== results ($(nproc) cores; $codes exchanges and refreshes at concurrency $concurrency; records expire after $ttl)"
printf '%s\n' "${results[@]}"
echo "targets: p99 at 1M within 2x of 10k; anonymous RSS < 64 MiB; start-up < 1000 ms"
