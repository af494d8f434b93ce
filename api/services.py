"""The services of the app handling this request (built by `shared.services.build_services`)."""

from __future__ import annotations

from flask import current_app

from shared.services import Services


def services() -> Services:
    found: Services = current_app.extensions["predq"]
    return found
