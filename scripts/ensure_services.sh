#!/usr/bin/env bash
# Make a fresh Debian/Ubuntu machine ready for the test suite:
#   1. system packages (PostgreSQL, Redis, WeasyPrint's Pango, Chromium, poppler, fonts, gettext);
#   2. PostgreSQL and Redis answering on 127.0.0.1 (started if they are not);
#   3. a database role with CREATEDB and a database for it (handles trust and scram auth).
# As root it installs and starts what is missing; otherwise it prints the exact command and stops.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
DB_USER=${DB_USER:-regulars}
DB_PASSWORD=${DB_PASSWORD:-regulars}
DB_NAME=${DB_NAME:-regulars}
REDIS_PORT=${REDIS_PORT:-6379}

APT_PACKAGES="postgresql postgresql-contrib redis-server libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b
 fonts-dejavu-core fonts-noto-core chromium poppler-utils zbar-tools gettext python3-venv ca-certificates"

say() { printf '[ensure-services] %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = "0" ]; }

missing=()
command -v psql >/dev/null 2>&1 || missing+=(postgresql)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)  # decodes the task sheets' QR codes in tests
command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)
ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' || missing+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so' || missing+=(libpangoft2-1.0-0)
[ -d /usr/share/fonts/truetype/noto ] || missing+=(fonts-noto-core)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
  else
    say "missing system packages: ${missing[*]}"
    say "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends $(echo $APT_PACKAGES)"
    exit 1
  fi
fi

# --- PostgreSQL ---------------------------------------------------------------
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  if is_root && command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      say "creating PostgreSQL $version cluster"
      pg_createcluster "$version" main >/dev/null
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  else
    say "PostgreSQL is not answering on $PG_HOST:$PG_PORT; start it (e.g. sudo pg_ctlcluster <version> main start)"
    exit 1
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
fi

# --- Redis --------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  say "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "${TMPDIR:-/tmp}/regulars-redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --maxmemory-policy noeviction --dir "${TMPDIR:-/tmp}/regulars-redis" \
    --logfile "${TMPDIR:-/tmp}/regulars-redis/redis.log"
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

# --- Database role --------------------------------------------------------------
export PGPASSWORD="$DB_PASSWORD"
if ! psql -h "$PG_HOST" -p "$PG_PORT" -U "$DB_USER" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  sql="DO \$\$BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
           CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
         ELSE
           ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
         END IF;
       END\$\$;"
  if is_root && id postgres >/dev/null 2>&1; then
    say "creating database role $DB_USER"
    runuser -u postgres -- psql -q -p "$PG_PORT" -d postgres -c "$sql"
  elif PGPASSWORD= psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    PGPASSWORD= psql -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "$sql"
  else
    say "cannot create role $DB_USER; run: sudo -u postgres psql -c \"CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'\""
    exit 1
  fi
fi
if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$DB_USER" -d postgres -Atqc "select 1 from pg_database where datname='$DB_NAME'")" != "1" ]; then
  say "creating database $DB_NAME"
  createdb -h "$PG_HOST" -p "$PG_PORT" -U "$DB_USER" "$DB_NAME"
fi
say "PostgreSQL ($DB_USER@$PG_HOST:$PG_PORT/$DB_NAME) and Redis (127.0.0.1:$REDIS_PORT) are ready"
