"""`renew_watches`: Cloud Scheduler's daily call to renew Gmail watches before Google lets them lapse."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function


@functions_framework.http
@http_function("renew_watches", setup=setup_instance)
def renew_watches(request: flask.Request) -> flask.Response:
    container = get_container()
    container.authenticate_scheduler(request)
    report = container.renew_gmail_watches()
    return flask.Response(report.model_dump_json(), status=200, mimetype="application/json")
