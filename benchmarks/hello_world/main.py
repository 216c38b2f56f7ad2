"""The baseline for cold starts: the smallest function functions-framework can serve."""

import flask
import functions_framework


@functions_framework.http
def hello(request: flask.Request) -> str:
    return "ok"
