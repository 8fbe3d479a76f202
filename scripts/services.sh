#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis when they are not answering, then waits until both do.
# Idempotent: running it again with both up changes nothing. Needs root for the service commands.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() { # name check
  local name=$1 check=$2
  for _ in $(seq 1 60); do
    if $check; then echo "services: $name is up"; return 0; fi
    sleep 0.5
  done
  echo "services: $name did not come up within 30 s" >&2
  return 1
}

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  else
    echo "services: PostgreSQL is not running and not installed here: apt-get install postgresql, or docker compose up -d postgres" >&2
    exit 1
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    echo "services: Redis is not running and not installed here: apt-get install redis-server, or docker compose up -d redis" >&2
    exit 1
  fi
fi
wait_for PostgreSQL pg_up
wait_for Redis redis_up
