"""gunicorn settings for `gunicorn 'api:create_app()'`; each can be overridden on the command line."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let long polls (?wait) and followed result streams wait without blocking other requests.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
