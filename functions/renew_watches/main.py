"""`renew_watches`: Cloud Scheduler's daily round: push channels renewed before Google lets them lapse,
safety-net syncs queued for connections that have not synced for a while."""

import flask
import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import http_function


@functions_framework.http
@http_function("renew_watches", setup=setup_instance)
def renew_watches(request: flask.Request) -> flask.Response:
    container = get_container()
    container.scheduler_auth.authenticate(request.headers.get("Authorization"))
    report = container.daily_round.run()
    return flask.Response(report.model_dump_json(), status=200, mimetype="application/json")
