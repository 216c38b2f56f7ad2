"""`gmail_push`: Gmail's change notifications, pushed by Pub/Sub; each becomes at most one sync request."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function


@functions_framework.http
@http_function("gmail_push", setup=setup_instance)
def gmail_push(request: flask.Request) -> flask.Response:
    container = get_container()
    container.push_auth.authenticate(request.headers.get("Authorization"))
    container.gmail_push.handle(request.get_data())
    return flask.Response(status=204)
