# Regulars: one image for web (gunicorn), worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint's Pango/HarfBuzz for the printed task sheets, fonts that cover Latin,
# Cyrillic and Arabic script (Persian notes), gettext for compilemessages, curl for
# the healthcheck.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
      fonts-dejavu-core fonts-noto-core gettext curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 regulars
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=regulars:regulars . .
# collectstatic needs settings but no database or broker: the defaults suffice at build time.
RUN python manage.py compilemessages --ignore=.venv \
 && STATICFILES_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage \
    python manage.py collectstatic --noinput \
 && chown -R regulars:regulars /app

USER regulars
EXPOSE 8000
# Workers and threads: gunicorn.conf.py (gthread, one process per core; WEB_CONCURRENCY / WEB_THREADS).
CMD ["gunicorn", "crm.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", \
     "--access-logformat", "%(h)s %(t)s \"%(m)s %(U)s\" %(s)s %(b)s %(L)s"]
