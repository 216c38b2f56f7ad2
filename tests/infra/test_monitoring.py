"""The monitoring Terraform against the code it watches: offline, so a renamed log message, a metric
that is not declared or a dashboard placeholder nobody fills fails here, not silently in production.

- every `jsonPayload.message = "..."` a log-based metric counts is a message the code logs;
- every Cloud Run service a filter names is a deployed function;
- every alert's metric is a declared log-based metric, and every alert has a runbook entry;
- the dashboard template renders to JSON, takes exactly the variables Terraform passes, and every
  log-based metric it charts is declared.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import REPO_ROOT
from tests.infra import rules

pytestmark = pytest.mark.unit

PLATFORM = REPO_ROOT / "infra" / "modules" / "platform"
DASHBOARD_TEMPLATE = PLATFORM / "dashboard.json.tftpl"
OPS_README = REPO_ROOT / "infra" / "README.md"

_QUOTED = re.compile(r'^"(.*)"$', re.DOTALL)
_LOGGED_MESSAGE = re.compile(r"jsonPayload\.message\s*=\s*\\?\"([^\"\\]+)\\?\"")
_SERVICE_NAME = re.compile(r"resource\.labels\.service_name\s*=\s*\\?\"([a-z0-9-]+)\\?\"")
_USER_METRIC = re.compile(r"logging\.googleapis\.com/user/\$\{([^}]+)\}")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _text(value: Any) -> str:
    """python-hcl2 keeps a literal's quotes and escapes; expressions come as "${...}"."""
    if not isinstance(value, str):
        return str(value)
    match = _QUOTED.match(value)
    return match.group(1).replace('\\"', '"') if match else value


def resources(kind: str, directory: Path = PLATFORM) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            document = hcl2.load(handle)
        for block in document.get("resource", []):
            for resource_type, named in block.items():
                if _text(resource_type) == kind:
                    for name, body in named.items():
                        found[_text(name)] = body
    return found


def platform_locals() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(PLATFORM.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("locals", []):
                found.update({name: value for name, value in block.items() if not name.startswith("__")})
    return found


def _entries(table: dict[str, Any]) -> dict[str, Any]:
    """A map literal's entries by unquoted key, without python-hcl2's comment bookkeeping."""
    return {_text(key): value for key, value in table.items() if not key.startswith("__")}


def metric_filters() -> dict[str, str]:
    """Log-based metric name (a key of local.log_metrics) -> its filter's text; a filter built with
    join() carries its literal parts inline."""
    return {
        name: _text(metric["filter"]) for name, metric in _entries(platform_locals()["log_metrics"]).items()
    }


def _metric_references(value: Any) -> set[str]:
    """Names in google_logging_metric.this["<name>"] references anywhere inside a parsed value."""
    unescaped = json.dumps(value).replace("\\", "")
    return set(re.findall(r'google_logging_metric\.this\["([\w-]+)"\]', unescaped))


_LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _is_logger_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _LOG_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "logger"
    )


def _logging_helpers(tree: ast.Module) -> dict[str, int]:
    """A module's own helpers that log a message they are given (``def _warn(message, ...)`` calling
    ``logger.warning(message, ...)``): helper name -> position of that parameter."""
    helpers: dict[str, int] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        parameters = [argument.arg for argument in function.args.args]
        for node in ast.walk(function):
            if _is_logger_call(node):
                assert isinstance(node, ast.Call)
                # logger.log() puts a level first; the message is the next argument.
                position = 1 if isinstance(node.func, ast.Attribute) and node.func.attr == "log" else 0
                message = node.args[position] if len(node.args) > position else None
                if isinstance(message, ast.Name) and message.id in parameters:
                    helpers[function.name] = parameters.index(message.id)
    return helpers


def messages_the_code_logs() -> set[str]:
    logged: set[str] = set()
    # The message is the first string literal of the call; logger.log() puts a level expression first.
    call = re.compile(
        r"logger\.(?:debug|info|warning|error|exception|critical|log)\(\s*(?:[^\"()]*?,\s*)?\"([^\"]+)\""
    )
    for path in (REPO_ROOT / "shared").rglob("*.py"):
        source = path.read_text()
        logged.update(call.findall(source))
        # Messages handed to a helper of this module that logs them: _warn("push channel not started", ...).
        tree = ast.parse(source)
        helpers = _logging_helpers(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                position = helpers[node.func.id]
                if len(node.args) > position:
                    message = node.args[position]
                    if isinstance(message, ast.Constant) and isinstance(message.value, str):
                        logged.add(message.value)
    return logged


def function_names() -> set[str]:
    names = set()
    for path in sorted(PLATFORM.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get("module", []):
                for body in block.values():
                    if _text(body.get("source", "")) == "../function":
                        names.add(_text(body["name"]))
    return names


# --- log-based metrics against the code ----------------------------------------------------------------


def test_the_scan_finds_what_it_checks() -> None:
    # Guards the tests below against passing on nothing.
    assert {"purge-errors", "watch-renewal-failures", "connections-needing-reconnect", "syncs"} <= set(
        metric_filters()
    )
    # "push channel not started" is logged through a helper (_warn), so this also guards that scan.
    assert {"push channel not started", "sync done", "connection needs reconnect", "request handled"} <= (
        messages_the_code_logs()
    )
    assert len(function_names()) >= 7


def test_every_counted_log_message_is_one_the_code_writes() -> None:
    logged = messages_the_code_logs()
    counted = {
        (metric, message)
        for metric, text in metric_filters().items()
        for message in _LOGGED_MESSAGE.findall(text)
    }
    assert len(counted) >= 6
    unknown = sorted((metric, message) for metric, message in counted if message not in logged)
    assert not unknown, f"log-based metrics count messages no code in shared/ logs: {unknown}"


def test_every_service_a_filter_names_is_a_deployed_function() -> None:
    deployed = function_names()
    named = {name for text in metric_filters().values() for name in _SERVICE_NAME.findall(text)}
    # Filters built with ${module.x.name} name the function through Terraform; literals must match.
    assert named <= deployed, f"filters name services that are not deployed: {sorted(named - deployed)}"


def test_every_alert_counts_a_declared_metric_and_has_a_runbook_entry() -> None:
    declared = set(metric_filters())
    readme = OPS_README.read_text()
    settings = platform_locals()
    alerts = _entries(settings["log_alerts"])
    assert len(alerts) >= 3
    # The dead-letter alerts' runbook is "Dead letters"; the others have a section each.
    assert "### Dead letters" in readme
    for name, alert in alerts.items():
        title = _text(alert["display_name"])
        assert f"### {title}" in readme or f"| {title} |" in readme, (
            f"alert {name} ({title}) has no runbook entry"
        )
        counted = _metric_references(alert)
        if "local.scheduler_run_failed" in json.dumps(alert):
            counted |= _metric_references(settings["scheduler_run_failed"])
        assert counted, f"alert {name} counts no log-based metric"
        assert counted <= declared, f"alert {name} counts undeclared metrics {sorted(counted - declared)}"


# --- the dashboard ------------------------------------------------------------------------------------


def dashboard_arguments() -> dict[str, str]:
    """The variables object of the dashboard's templatefile() call: name -> Terraform expression."""
    (dashboard,) = resources("google_monitoring_dashboard").values()
    call = _text(dashboard["dashboard_json"])
    assert call.startswith("${templatefile("), call
    assert "dashboard.json.tftpl" in call, call
    body = call[call.index("{", call.index("tftpl")) + 1 : call.rindex("})")]
    return dict(_assignment(part) for part in _top_level_parts(body))


def _top_level_parts(body: str) -> list[str]:
    """Split "a = f(x, y), b = [c, d]" at the commas outside brackets and strings."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(body):
        if char == '"' and body[index - 1] != "\\":
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(body[start:index])
            start = index + 1
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def _assignment(part: str) -> tuple[str, str]:
    name, _, expression = part.partition("=")
    return name.strip(), expression.strip()


def render(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def test_the_dashboard_template_takes_exactly_the_variables_terraform_passes() -> None:
    template = DASHBOARD_TEMPLATE.read_text()
    placeholders = set(_PLACEHOLDER.findall(template))
    passed = set(dashboard_arguments())
    # templatefile() fails on a placeholder with no value; an unused one is a leftover.
    assert placeholders == passed, (placeholders - passed, passed - placeholders)


def test_the_dashboard_renders_to_a_dashboard_whose_every_widget_has_one_kind() -> None:
    template = DASHBOARD_TEMPLATE.read_text()
    rendered = json.loads(render(template, {name: "x" for name in _PLACEHOLDER.findall(template)}))
    widgets = rendered["gridLayout"]["widgets"]
    assert len(widgets) >= 8
    kinds = {"xyChart", "text", "logsPanel", "scorecard"}
    for widget in widgets:
        assert widget["title"]
        assert len(kinds & set(widget)) == 1, widget["title"]
        for data_set in widget.get("xyChart", {}).get("dataSets", []):
            query = data_set["timeSeriesQuery"]["timeSeriesFilter"]
            assert "metric.type" in query["filter"], widget["title"]
            assert "resource.type" in query["filter"], widget["title"]


def test_the_dashboard_has_only_fields_and_values_of_the_monitoring_api() -> None:
    # What terraform plan would not catch either: the API parses dashboard_json only at apply time.
    template = DASHBOARD_TEMPLATE.read_text()
    rendered = json.loads(render(template, {name: "x" for name in _PLACEHOLDER.findall(template)}))
    document = rules.discovery_document("monitoring.v1")
    assert list(rules.api_schema_problems(rendered, "Dashboard", document, hcl=False)) == []
    broken = json.loads(json.dumps(rendered).replace('"STACKED_BAR"', '"STACKED_BARS"', 1))
    broken["gridLayout"]["widgets"][0]["titel"] = "typo"
    assert len(list(rules.api_schema_problems(broken, "Dashboard", document, hcl=False))) == 2


def test_every_log_metric_the_dashboard_charts_is_declared() -> None:
    arguments = dashboard_arguments()
    declared = set(metric_filters())
    charted = set(_USER_METRIC.findall(DASHBOARD_TEMPLATE.read_text()))
    assert len(charted) >= 4
    for placeholder in charted:
        (metric,) = _metric_references(arguments[placeholder]) or {None}
        assert metric in declared, (
            f"{placeholder} must name a declared log-based metric: {arguments[placeholder]}"
        )
