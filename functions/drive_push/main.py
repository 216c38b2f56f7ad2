"""`drive_push`: Google Drive's changes channel notifications (headers, no body); each one whose channel,
token and resource id check out becomes at most one sync of the account's Drive changes."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function
from shared.errors import MethodNotAllowed


@functions_framework.http
@http_function("drive_push", setup=setup_instance)
def drive_push(request: flask.Request) -> flask.Response:
    if request.method != "POST":
        raise MethodNotAllowed("Channel notifications are POSTed.")
    get_container().drive_push.handle(dict(request.headers.items()))
    return flask.Response(status=200)
