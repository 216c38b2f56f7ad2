"""`daily_purge`: Cloud Scheduler's nightly call; one purge request per tenant (`?dry_run=true`: count)."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function
from shared.retention.nightly import dry_run_from_query


@functions_framework.http
@http_function("daily_purge", setup=setup_instance)
def daily_purge(request: flask.Request) -> flask.Response:
    container = get_container()
    container.scheduler_auth.authenticate(request.headers.get("Authorization"))
    dry_run = dry_run_from_query(request.args.to_dict(flat=False))  # 400 on anything but true or false
    fanned_out = container.nightly_purge.fan_out(dry_run=dry_run)
    return flask.Response(fanned_out.model_dump_json(), status=200, mimetype="application/json")
