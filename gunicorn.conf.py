"""gunicorn settings for `gunicorn 'api:create_app()'`; each can be overridden on the command line."""

import os

from shared import logs
from shared.settings import Settings

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let long polls (?wait) and followed result streams wait without blocking other requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
# gunicorn's own lines in LOG_FORMAT at LOG_LEVEL (a malformed one stops it here, naming the variable);
# no access log: the API logs one line per request itself, with its request id.
logconfig_dict = logs.gunicorn_logconfig(Settings.from_env())
