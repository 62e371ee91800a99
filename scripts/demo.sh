#!/usr/bin/env bash
# `make demo`: migrate, load demo data once, serve on http://127.0.0.1:8000.
# Embedded default unless DATABASE_URL / CELERY_BROKER_URL are set; with a broker
# it also runs a Celery worker and beat, stopped when the server stops.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG=${DEBUG:-true}
export LOG_FORMAT=${LOG_FORMAT:-plain}
$PY manage.py migrate --noinput
$PY manage.py load_demo_data --if-empty ${DEMO_CUSTOMERS:+--customers "$DEMO_CUSTOMERS"}
# Demo tickets arrive by COPY, without the signals a till sends: run once what they would have
# triggered (each step is idempotent, so a restart repeats them harmlessly).
$PY manage.py load_demo_loyalty
$PY manage.py loyalty_earn_history
$PY manage.py refresh_dashboard --since all
$PY manage.py refresh_segments
# Each store's own segmentation too (a store manager's dashboard reads the store's scope).
for code in $($PY manage.py shell --no-imports -v 0 -c "from customers.models import Store; print(' '.join(Store.objects.values_list('code', flat=True)))"); do
  $PY manage.py refresh_segments --store "$code"
done
$PY manage.py load_demo_campaigns
$PY manage.py queue_notes
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
if [ -n "${CELERY_BROKER_URL:-${REDIS_URL:-}}" ]; then
  .venv/bin/celery -A crm worker --loglevel=INFO --concurrency=2 & pids+=($!)
  .venv/bin/celery -A crm beat --loglevel=INFO --schedule="${TMPDIR:-/tmp}/regulars-celerybeat" & pids+=($!)
fi
echo
echo "Regulars is running on http://127.0.0.1:${PORT:-8000} — demo logins are listed in README.md (password: ${DEMO_PASSWORD:-regulars-demo})"
echo
$PY manage.py runserver 127.0.0.1:${PORT:-8000}
