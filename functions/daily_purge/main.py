"""`daily_purge`: Cloud Scheduler's nightly call; one purge request per tenant (`?dry_run=true`: count)."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function


@functions_framework.http
@http_function("daily_purge", setup=setup_instance)
def daily_purge(request: flask.Request) -> flask.Response:
    container = get_container()
    container.authenticate_scheduler(request)
    fanned_out = container.fan_out_purge(dry_run=request.args.get("dry_run", "false").lower() == "true")
    return flask.Response(fanned_out.model_dump_json(), status=200, mimetype="application/json")
