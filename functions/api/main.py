"""`api`: the HTTP function the CRM backend calls (tenants, plans, connections; more with each feature)."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function


@functions_framework.http
@http_function("api", setup=setup_instance)
def api(request: flask.Request) -> flask.Response:
    return get_container().api_router.dispatch(request)
