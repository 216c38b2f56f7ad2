"""`oauth_callback`: the browser on its way to Google's consent screen (/start) and back (/callback)."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.connections.browser import serve_oauth_browser
from shared.entrypoints import http_function


@functions_framework.http
@http_function("oauth_callback", setup=setup_instance)
def oauth_callback(request: flask.Request) -> flask.Response:
    container = get_container()
    return serve_oauth_browser(request, container.connect_flow, container.settings)
