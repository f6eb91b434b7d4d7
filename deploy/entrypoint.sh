#!/bin/sh
# The image's entry point: derive the URLs from the env file's settings (encoded), then run the command.
# Healthchecks call it too, so `airflow jobs check` and `celery inspect ping` see the same configuration.
set -eu
exports="$(python /opt/gateway/deploy/urls.py)"
eval "$exports"
exec "$@"
