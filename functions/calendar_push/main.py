"""`calendar_push`: Google Calendar's channel notifications (headers, no body); each one whose channel,
token and resource id check out becomes at most one sync request of that calendar."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function
from shared.errors import MethodNotAllowed


@functions_framework.http
@http_function("calendar_push", setup=setup_instance)
def calendar_push(request: flask.Request) -> flask.Response:
    if request.method != "POST":
        raise MethodNotAllowed("Channel notifications are POSTed.")
    get_container().calendar_push.handle(dict(request.headers.items()))
    return flask.Response(status=200)
