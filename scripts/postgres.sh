#!/usr/bin/env bash
# A real PostgreSQL with pgvector for facekit's real-server tests, from Debian's packages only.
#
#   scripts/postgres.sh start   # prints the postgres:// URL of a ready server on its last line
#   scripts/postgres.sh stop
#
# Debian 12 (this machine) has no pgvector package; Debian 13 has postgresql-17-pgvector. So the
# server runs inside a minimal Debian 13 system made with debootstrap (once: about 3 minutes, then
# kept under $FACEKIT_PG_ROOT and reused), started on a local port with trust authentication.
# Needs root (debootstrap, chroot, mount). Everything it says goes to stderr; the URL to stdout.
#
#   FACEKIT_PG_ROOT   where the Debian 13 system lives (default /var/tmp/facekit-pg)
#   FACEKIT_PG_PORT   the port (default 55432)
#   FACEKIT_PG_MIRROR the Debian mirror (default: the one apt uses here, else deb.debian.org)
set -euo pipefail

ROOT=${FACEKIT_PG_ROOT:-/var/tmp/facekit-pg}
PORT=${FACEKIT_PG_PORT:-55432}
DATA=/var/lib/facekit-pg            # inside the chroot
BIN=/usr/lib/postgresql/17/bin      # inside the chroot
URL="postgres://postgres@127.0.0.1:${PORT}/facekit"

say() { echo "postgres.sh: $*" >&2; }
fail() { say "$*"; exit 2; }

mirror() {
  if [[ -n ${FACEKIT_PG_MIRROR:-} ]]; then echo "$FACEKIT_PG_MIRROR"; return; fi
  # the mirror apt reaches here (deb822 sources or a sources.list line)
  local m
  m=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?' /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_postgres() { in_root su postgres -s /bin/sh -c "$1"; }

mounted() { grep -qs " $1 " /proc/mounts; }
mount_all() {
  mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mounted "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
  mounted "$ROOT/dev/shm" || mount -t tmpfs shm "$ROOT/dev/shm"
}
umount_all() {
  for m in "$ROOT/dev/shm" "$ROOT/dev" "$ROOT/proc"; do mounted "$m" && umount -l "$m" || true; done
}

ready() { as_postgres "$BIN/pg_isready -q -h 127.0.0.1 -p $PORT" 2>/dev/null; }

provision() {
  [[ $(id -u) == 0 ]] || fail "needs root (debootstrap, chroot and mount)"
  if [[ ! -x $ROOT/$BIN/postgres || ! -e $ROOT/usr/share/postgresql/17/extension/vector.control ]]; then
    command -v debootstrap >/dev/null || {
      say "installing debootstrap"
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap; } >&2 ||
        fail "could not install debootstrap"
    }
    local m; m=$(mirror)
    say "making a Debian 13 system in $ROOT from $m (once; about 2 minutes)"
    rm -rf "$ROOT.partial"
    debootstrap --variant=minbase trixie "$ROOT.partial" "$m" >&2 || fail "debootstrap failed (see above)"
    rm -rf "$ROOT"; mv "$ROOT.partial" "$ROOT"
    mount_all
    say "installing PostgreSQL 17 and pgvector from Debian 13 (about 1.5 minutes)"
    { in_root apt-get update && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-17 postgresql-17-pgvector; } >&2 || fail "apt-get install of postgresql-17-pgvector failed (see above)"
  fi
  mount_all
  if [[ ! -s $ROOT$DATA/PG_VERSION ]]; then
    # initdb as postgres wants the folder to exist and to belong to postgres first
    in_root install -d -o postgres -g postgres -m 0700 "$DATA"
    as_postgres "$BIN/initdb -D $DATA --auth=trust --locale=C.UTF-8 -U postgres" >&2 || fail "initdb failed"
  fi
}

start() {
  provision
  if ! ready; then
    as_postgres "$BIN/pg_ctl -D $DATA -l $DATA/log -w -t 60 -o '-p $PORT -c listen_addresses=127.0.0.1 -k /tmp' start" >&2 ||
      fail "the server did not start: $(tail -n 3 "$ROOT$DATA/log" 2>/dev/null | tr '\n' ' ')"
  fi
  as_postgres "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname = 'facekit'\"" 2>/dev/null | grep -q 1 ||
    as_postgres "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -qc 'CREATE DATABASE facekit'" >&2
  as_postgres "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -d facekit -qc 'SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector'" >&2 ||
    fail "CREATE EXTENSION vector failed"
  say "ready on port $PORT (data in $ROOT$DATA)"
  echo "$URL"
}

stop() {
  if [[ -x $ROOT/$BIN/pg_ctl ]] && mounted "$ROOT/proc"; then
    ready && as_postgres "$BIN/pg_ctl -D $DATA -m fast -w stop" >&2 || true
  fi
  umount_all
  say "stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/postgres.sh start|stop" >&2; exit 2 ;;
esac
