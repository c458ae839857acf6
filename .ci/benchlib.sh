# What the bench scripts (loadtest.sh, growth.sh, replicas.sh) share; they
# source it from the repository root. It makes $tmp, removed at exit with
# every server and the PostgreSQL still running, and defines:
#   bench_build [FLAGS]      builds bin/gatehouse and bin/gatehouse-load
#   free_port, loadavg
#   start_gatehouse PORT LOG [VAR=VALUE...]
#                            starts bin/gatehouse serve and waits until ready
#   stop_gatehouse PID LOG   stops it, failing unless it exits cleanly
#   start_postgres, sql DB STATEMENT
#                            a throw-away PostgreSQL with durable commits
#   cc_basic BASE NAME, cc_script FILE BASIC
#                            a client_credentials client for wrk
bench=$(basename "$0" .sh)
# The Wasm plugins of the embedded configuration (make plugins builds them);
# point LOAD_PLUGINS_DIR at an empty directory to measure the core alone.
plugins_dir=${LOAD_PLUGINS_DIR:-$PWD/plugins/bin}

command -v curl >/dev/null || { echo "$bench: curl is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
pid=""     # the server start_gatehouse started last
pids=()    # every server running
pg_pid=""
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  if [ -n "$pg_pid" ] && kill -0 "$pg_pid" 2>/dev/null; then kill -INT "$pg_pid"; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap bench_cleanup EXIT

bench_build() {
  echo "== building"
  go build "$@" -o bin/gatehouse ./cmd/gatehouse
  go build "$@" -o bin/gatehouse-load ./cmd/gatehouse-load
}

# A free loopback port: bind :0, read it back, release it.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# start_gatehouse PORT LOG [VAR=VALUE...]: starts bin/gatehouse serve on
# 127.0.0.1:PORT, its output appended to LOG, with plugins from
# $plugins_dir compiled into $tmp/wasm-cache, no file watching and the rate
# limits out of the way, then the VARs (which override those); sets pid and
# waits (30 s at most) until /readyz answers 200.
start_gatehouse() {
  local port=$1 log=$2
  shift 2
  env GATEHOUSE_SERVER__ADDR="127.0.0.1:$port" \
    GATEHOUSE_SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
    GATEHOUSE_PLUGINS__DIR="$plugins_dir" \
    GATEHOUSE_PLUGINS__CACHE_DIR="$tmp/wasm-cache" \
    GATEHOUSE_PLUGINS__WATCH=false \
    GATEHOUSE_RATE_LIMIT__TOKEN_PER_SECOND=1000000 \
    GATEHOUSE_RATE_LIMIT__TOKEN_BURST=1000000 \
    GATEHOUSE_RATE_LIMIT__AUTHORIZE_PER_SECOND=1000000 \
    GATEHOUSE_RATE_LIMIT__AUTHORIZE_BURST=1000000 \
    "$@" ./bin/gatehouse serve >>"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 3000); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && return
    kill -0 "$pid" 2>/dev/null || { echo "$bench: gatehouse exited during start:" >&2; tail -50 "$log" >&2; exit 1; }
    sleep 0.01
  done
  echo "$bench: gatehouse not ready after 30 s:" >&2; tail -50 "$log" >&2; exit 1
}

# stop_gatehouse PID LOG: stops the server with SIGTERM; fails, with the
# end of LOG, unless it exits cleanly.
stop_gatehouse() {
  local p rest=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || rest+=("$p"); done
  pids=("${rest[@]}")
  kill "$1"
  wait "$1" || { echo "$bench: gatehouse did not stop cleanly:" >&2; tail -20 "$2" >&2; return 1; }
}

# start_postgres: a throw-away cluster from Debian's binaries in $tmp/pg
# (initdb as nobody when run as root, a unix socket there, fsync and
# synchronous_commit on: durable commits); sets pg_pid.
start_postgres() {
  local as=()
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$pg_bin/initdb" ] || { echo "$bench: PostgreSQL binaries not found (make deps-test installs them)" >&2; exit 1; }
  mkdir -p "$tmp/pg"
  chmod 755 "$tmp"
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$tmp/pg"
    as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
  fi
  "${as[@]}" "$pg_bin/initdb" -D "$tmp/pg/data" -U gatehouse --auth=trust --encoding=UTF8 --locale=C >"$tmp/pg/initdb.log" 2>&1 ||
    { echo "$bench: initdb failed:" >&2; cat "$tmp/pg/initdb.log" >&2; exit 1; }
  "${as[@]}" "$pg_bin/postgres" -D "$tmp/pg/data" -k "$tmp/pg" -c listen_addresses= -c fsync=on \
    -c max_connections=100 -c shared_buffers=32MB >"$tmp/pg/postgres.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 1 300); do sql postgres 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
  [ "$(sql postgres "SHOW fsync")/$(sql postgres "SHOW synchronous_commit")" = on/on ] ||
    { echo "$bench: PostgreSQL did not start durable:" >&2; cat "$tmp/pg/postgres.log" >&2; exit 1; }
}
sql() { "$pg_bin/psql" -h "$tmp/pg" -U gatehouse -d "$1" -Atc "$2"; }

# cc_basic BASE NAME: registers a client_credentials client NAME with the
# scope catalog.read on BASE and prints its HTTP Basic credentials.
cc_basic() {
  local reg id secret
  reg=$(curl -fsS -X POST "$1/v1/register" -H 'Content-Type: application/json' \
    -d '{"client_name":"'"$2"'","grant_types":["client_credentials"],"scope":"catalog.read"}')
  id=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$reg")
  secret=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$reg")
  [ -n "$id" ] && [ -n "$secret" ] || { echo "$bench: registration failed: $reg" >&2; return 1; }
  printf '%s:%s' "$id" "$secret" | base64 -w0
}

# cc_script FILE BASIC: a wrk script posting client_credentials with BASIC.
cc_script() {
  cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $2"
EOF
}
