#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks of the
# PostgreSQL store:
#
#   scripts/postgres.sh start   # initdb + start; prints the admin URL
#   scripts/postgres.sh url     # prints the URL of the running cluster
#   scripts/postgres.sh restart # restarts it (fast: open connections are cut)
#   scripts/postgres.sh stop    # stops it and removes its directory
#
# The cluster lives in a temporary directory (its path is kept in
# $ASSISTANT_STREAM_PG_STATE, by default $TMPDIR/assistant-stream-postgres.dir,
# so that `url` and `stop` find it), listens on 127.0.0.1 on a free port
# (plain TCP: no TLS) and keeps its socket in that directory. PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres`
# system user (the Debian package makes it). The URL's role may create
# databases: the tests make one per test and drop it after.
#
# `synchronous_commit = off`: a commit does not wait for its WAL to reach the
# disk, which is what the SQLite store's `synchronous = NORMAL` does too (a
# commit survives the server process dying, not the machine losing power).
# The binaries are looked for in $PG_BIN, then the newest
# /usr/lib/postgresql/VERSION/bin, then $PATH.
set -euo pipefail

STATE=${ASSISTANT_STREAM_PG_STATE:-${TMPDIR:-/tmp}/assistant-stream-postgres.dir}
ROLE=assistant_stream
# A throwaway cluster on loopback: the password only shows that the URL's
# password is kept out of logs and errors.
PASSWORD=assistant_stream

pg_bin() {
  if [[ -n ${PG_BIN:-} ]]; then
    echo "$PG_BIN"
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $newest ]]; then
    echo "$newest"
  elif command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  else
    echo "scripts/postgres.sh: no PostgreSQL binaries (apt-get install postgresql)" >&2
    exit 1
  fi
}

# Runs a command as the cluster's owner: `postgres` when we are root.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

url_of() {
  local dir=$1
  echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$(cat "$dir/port")/$ROLE"
}

running_dir() {
  [[ -f $STATE ]] || return 1
  local dir
  dir=$(cat "$STATE")
  [[ -d $dir && -f $dir/port ]] || return 1
  echo "$dir"
}

start() {
  if dir=$(running_dir); then
    echo "scripts/postgres.sh: a cluster is already running in $dir" >&2
    url_of "$dir"
    return
  fi
  local bin dir port
  bin=$(pg_bin)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/assistant-stream-postgres.XXXXXX")
  chmod 755 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
  # A port taken between the probe and the start: try another.
  local tries=0
  until
    port=$(free_port)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
          -c synchronous_commit=off -c max_connections=300" >/dev/null
  do
    tries=$((tries + 1))
    if [[ $tries -ge 5 ]]; then
      cat "$dir/server.log" >&2
      rm -rf "$dir"
      exit 1
    fi
  done
  echo "$port" >"$dir/port"
  echo "$dir" >"$STATE"
  as_owner "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" \
    -c "CREATE DATABASE $ROLE OWNER $ROLE" >/dev/null
  url_of "$dir"
}

stop() {
  local dir
  dir=$(running_dir) || { rm -f "$STATE"; return 0; }
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  rm -f "$STATE"
}

# A restart as an operator does one (`pg_ctl restart -m fast`: sessions are
# cut, committed data stays), with the options the cluster was started with.
restart() {
  local dir
  dir=$(running_dir) || { echo "scripts/postgres.sh: no cluster is running" >&2; exit 1; }
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 restart >/dev/null
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  url)
    dir=$(running_dir) || { echo "scripts/postgres.sh: no cluster is running" >&2; exit 1; }
    url_of "$dir"
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop|restart|url" >&2
    exit 2
    ;;
esac
