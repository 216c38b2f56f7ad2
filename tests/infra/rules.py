"""Structural rules for the Terraform in infra/, checked by parsing the HCL with python-hcl2.

No provider, no state, no network: these rules stand in for the review a change to infra/ needs and for
the part of ``terraform validate`` that cannot run here (the google provider cannot be downloaded).

- R1 functions: every ``google_cloudfunctions2_function`` runs ``python312`` as a ``google_service_account``
  of its own module (not a literal, not a default account, not shared with another function), an account
  whose id is built from ``var.name`` when the module is called; and every call of such a module (the
  ``../function`` calls in modules/platform/functions.tf) has its own literal ``name``.
- R2 push subscriptions: a ``google_pubsub_subscription`` with a ``push_config`` pushes with an
  ``oidc_token`` (service_account_email, audience), has a ``dead_letter_policy`` (dead_letter_topic,
  max_delivery_attempts) and a ``retry_policy``.
- R3 scheduler: a ``google_cloud_scheduler_job`` with an ``http_target`` calls with an ``oidc_token``
  (service_account_email, audience), never an ``oauth_token`` or no token.
- R4 no secret values: no ``google_secret_manager_secret_version`` (resource or data source), no
  ``secret_data`` attribute, no default on a variable whose name says secret, and no string in a .tf or
  .tfvars(.example) file (comments included) that looks like a credential.
- R5 entry points: every ``functions/<name>/main.py`` is deployed by exactly one function module call with
  ``entry_point = "<name>"`` and ``source_zip_path = var.function_source_zips["<name>"]``, that main.py
  defines ``<name>`` at top level, every such call's entry point has its directory, and the zips the
  ``function_source_zips`` variable requires are exactly the function directories.
- R6 references: every ``var.``, ``local.``, ``module.`` (and module output), resource and data source
  reference resolves in its module; every file read with ``file``/``templatefile`` from ``path.module``
  exists; a local module call passes only variables of that module and every required one; a .tfvars
  file sets only variables of its directory.
- R7 API schema: the arguments and nested blocks of the resources in ``API_OBJECTS`` name fields of the
  Google API object they create (snake_case to camelCase), and a literal set on an enum field is one of
  its values. The schemas come from the discovery documents google-api-python-client bundles: this is
  the provider schema check of ``terraform validate``, for the resources where a typo would hurt most.

Usage: ``python -m tests.infra.rules [INFRA] [--repo-root DIR]`` prints the violations and exits 1, or
prints what it checked and exits 0. The tests (tests/infra/test_structure.py) call the functions directly.

How python-hcl2 (8.x) hands HCL over, which the helpers below rely on: a quoted string keeps its quotes
(``'"python312"'``); any other expression is wrapped as ``"${...}"`` (``"${var.name}"``); nested blocks
are lists of dicts marked ``__is_block__``; block labels and quoted object keys keep their quotes;
comments sit under ``__comments__`` and ``__inline_comments__``.
"""

from __future__ import annotations

import argparse
import ast
import functools
import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

# scripts/ is a namespace package next to tests/; the packaging step decides what a function is.
from scripts.package_functions import PackagingError, discover_functions

__all__ = [
    "API_OBJECTS",
    "RULES",
    "Block",
    "Infra",
    "InfraParseError",
    "Inventory",
    "TerraformModule",
    "Violation",
    "api_schema_problems",
    "check_all",
    "check_api_schema",
    "check_entry_points",
    "check_functions",
    "check_push_subscriptions",
    "check_references",
    "check_scheduler_jobs",
    "check_secret_values",
    "closing_brace",
    "credential_kind",
    "discovery_document",
    "inventory",
    "load_infra",
    "looks_like_secret_name",
    "main",
]

RULES = {
    "R1": "Cloud Functions run python312 as a service account of their own, one per function name",
    "R2": "push subscriptions push with an OIDC token, retry with backoff and dead-letter",
    "R3": "Cloud Scheduler HTTP jobs call with an OIDC token",
    "R4": "no secret values in Terraform code, variables' defaults or tfvars",
    "R5": "every functions/<name>/main.py is deployed by exactly one Terraform function, and back",
    "R6": "every reference, module argument and tfvars key resolves without a provider",
    "R7": "resources set only fields, and enum values, that Google's API schema has",
}

FUNCTION_RESOURCE = "google_cloudfunctions2_function"
SERVICE_ACCOUNT_RESOURCE = "google_service_account"
SECRET_VERSION_RESOURCE = "google_secret_manager_secret_version"
PUSH_SUBSCRIPTION_RESOURCE = "google_pubsub_subscription"
SCHEDULER_JOB_RESOURCE = "google_cloud_scheduler_job"
FUNCTION_RUNTIME = "python312"

# Keys python-hcl2 adds that are not Terraform arguments.
_COMMENT_KEYS = frozenset({"__comments__", "__inline_comments__"})
_BLOCK_MARKER = "__is_block__"

# Arguments of a module call that Terraform itself takes; every other one sets a variable of the module.
_MODULE_META_ARGUMENTS = frozenset({"source", "version", "count", "for_each", "providers", "depends_on"})
# Blocks that name addresses which no longer (or do not yet) exist; their references need not resolve.
_ADDRESS_ONLY_BLOCKS = frozenset({"moved", "import", "removed"})


class InfraParseError(Exception):
    """A file under infra/ that python-hcl2 cannot parse; the message names the file."""


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    file: str  # relative to the directory holding infra/ and functions/: infra/modules/function/main.tf
    address: str  # where in that file, e.g. google_cloudfunctions2_function.this or module.api
    message: str

    def __str__(self) -> str:
        return f"{self.rule} {self.file}: {self.address}: {self.message}"


@dataclass(frozen=True)
class Block:
    """One top-level block of a .tf file: ``resource "type" "name" { ... }``, ``module "x"``, ``locals``."""

    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        if self.kind == "resource":
            return ".".join(self.labels)
        if self.kind == "variable":
            return f"var.{self.labels[0]}"
        return ".".join((self.kind, *self.labels))


@dataclass
class TerraformModule:
    """The .tf files of one directory, as Terraform sees a module."""

    directory: Path
    blocks: list[Block]

    def resources(self, resource_type: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == "resource" and b.labels[0] == resource_type]

    def resource(self, resource_type: str, name: str) -> Block | None:
        return next((b for b in self.resources(resource_type) if b.labels[1] == name), None)

    @property
    def variables(self) -> dict[str, Block]:
        return {b.labels[0]: b for b in self.blocks if b.kind == "variable"}

    @property
    def locals(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for block in self.blocks:
            if block.kind == "locals":
                values.update({k: v for k, v in block.body.items() if not k.startswith("__")})
        return values

    @property
    def module_calls(self) -> dict[str, Block]:
        return {b.labels[0]: b for b in self.blocks if b.kind == "module"}

    @property
    def outputs(self) -> set[str]:
        return {b.labels[0] for b in self.blocks if b.kind == "output"}


@dataclass
class Infra:
    """Everything parsed under one infra root."""

    root: Path
    modules: dict[Path, TerraformModule]  # by directory
    terraform_files: dict[Path, dict[str, Any]]  # every .tf file, parsed
    tfvars_files: dict[Path, dict[str, Any]]  # every .tfvars and .tfvars.example file, parsed

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root.parent).as_posix()


# --- Loading --------------------------------------------------------------------------------------------

# Comments are kept: R4 scans them too, since a key pasted into a comment is committed all the same.
_PARSE_OPTIONS = SerializationOptions(with_comments=True)


@functools.lru_cache(maxsize=256)
def _parse_hcl_text(text: str) -> dict[str, Any]:
    # Cached by content: the break tests parse many copies of the same files. Callers never mutate it.
    result: dict[str, Any] = hcl2.loads(text, serialization_options=_PARSE_OPTIONS)
    return result


def _parse_hcl_file(path: Path) -> dict[str, Any]:
    try:
        return _parse_hcl_text(path.read_text(encoding="utf-8"))
    except Exception as error:
        # lark and python-hcl2 raise several kinds; all mean the same here, so say which file.
        raise InfraParseError(f"{path}: python-hcl2 cannot parse it: {error}") from error


def _files(root: Path, pattern: str) -> list[Path]:
    # .terraform/ holds providers and module copies that `terraform init` downloaded: not this project's.
    return sorted(p for p in root.rglob(pattern) if ".terraform" not in p.relative_to(root).parts)


def _unquote(text: str) -> str:
    """A block label or object key without the quotes python-hcl2 keeps."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def _blocks_in(parsed: dict[str, Any], file: Path) -> Iterator[Block]:
    for kind, entries in parsed.items():
        if kind.startswith("__"):
            continue
        for entry in entries:
            # Each label is one level of single-key dict above the body, which carries the block marker.
            labels: list[str] = []
            body = entry
            while _BLOCK_MARKER not in body:
                if len(body) != 1:
                    raise InfraParseError(f"{file}: unexpected shape of a {kind} block: {sorted(body)}")
                label, body = next(iter(body.items()))
                labels.append(_unquote(label))
            yield Block(kind, tuple(labels), body, file)


def load_infra(infra_root: Path) -> Infra:
    """Parses every .tf, .tfvars and .tfvars.example file under ``infra_root``."""
    root = infra_root.resolve()
    if not root.is_dir():
        raise InfraParseError(f"{infra_root} is not a directory")
    modules: dict[Path, TerraformModule] = {}
    terraform_files: dict[Path, dict[str, Any]] = {}
    for path in _files(root, "*.tf"):
        parsed = _parse_hcl_file(path)
        terraform_files[path] = parsed
        module = modules.setdefault(path.parent, TerraformModule(path.parent, []))
        module.blocks.extend(_blocks_in(parsed, path))
    tfvars_paths = sorted({*_files(root, "*.tfvars"), *_files(root, "*.tfvars.example")})
    tfvars_files = {path: _parse_hcl_file(path) for path in tfvars_paths}
    return Infra(root, modules, terraform_files, tfvars_files)


# --- Reading values -------------------------------------------------------------------------------------


def string_literal(value: Any) -> str | None:
    """The text of a quoted string without interpolation (``"python312"``), else None (an expression)."""
    is_quoted = isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"'
    if is_quoted and "${" not in value:
        return str(value)[1:-1]
    return None


def _is_set(value: Any) -> bool:
    return value is not None and value != '""'


def _show(value: Any) -> str:
    """A parsed value as it reads in the .tf file, for messages."""
    if value is None:
        return "missing"
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return str(value)


def nested_blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The ``name`` blocks of a body: written out, or generated by ``dynamic "name"`` (its content)."""
    written = body.get(name)
    found = (
        [b for b in written if isinstance(b, dict) and b.get(_BLOCK_MARKER)]
        if isinstance(written, list)
        else []
    )
    for dynamic in body.get("dynamic", []):
        for label, dynamic_body in dynamic.items():
            if _unquote(label) == name:
                found.extend(nested_blocks(dynamic_body, "content"))
    return found


def _first_block(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    blocks = nested_blocks(body, name)
    return blocks[0] if blocks else None


def walk_strings(value: Any, path: str = "", *, comments: bool) -> Iterator[tuple[str, str]]:
    """(where, text) for every string in a parsed value: values and object keys, comments if asked."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item, path, comments=comments)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in _COMMENT_KEYS:
                if comments:
                    # Each comment is {"value": text}; name where it sits, not the "value" key.
                    where = f"{path} (comment)" if path else "(comment)"
                    for comment in item:
                        yield where, comment.get("value", "")
                continue
            if key == _BLOCK_MARKER:
                continue
            yield path, key
            yield from walk_strings(
                item, f"{path}.{_unquote(key)}" if path else _unquote(key), comments=comments
            )


def code_parts(text: str) -> list[str]:
    """The Terraform code in a parsed string: a whole expression, or the ``${...}`` parts of a quoted one.

    The literal text of a quoted string is not code: a description saying "var.x" references nothing.
    """
    if not text.startswith('"'):
        return [text]
    parts = []
    start = text.find("${")
    while start != -1:
        end = closing_brace(text, start + 1)
        parts.append(text[start : end + 1])
        start = text.find("${", end + 1)
    return parts


def closing_brace(text: str, opening: int) -> int:
    """The index of the "}" that closes the "{" at ``opening`` (or the text's last index if none does)."""
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(text) - 1


def _code_in(body: dict[str, Any]) -> Iterator[str]:
    for _, text in walk_strings(body, comments=False):
        yield from code_parts(text)


def _follow_local(module: TerraformModule, value: Any) -> Any:
    """The value of ``local.x`` when ``value`` is just that reference (one step), else ``value``."""
    match = re.fullmatch(r"\$\{local\.([A-Za-z_][\w-]*)\}", value) if isinstance(value, str) else None
    return module.locals.get(match.group(1)) if match else value


# --- Module calls ---------------------------------------------------------------------------------------


def local_module_target(module: TerraformModule, call: Block) -> Path | None:
    """Directory a module call's ``./`` or ``../`` source points at; None for a registry or git source."""
    source = string_literal(call.body.get("source"))
    if source is None or not source.startswith(("./", "../")):
        return None
    return (module.directory / source).resolve()


def called_module(infra: Infra, module: TerraformModule, call: Block) -> TerraformModule | None:
    """The module under infra/ that a local module call points at; None for other sources or a wrong path."""
    target = local_module_target(module, call)
    return infra.modules.get(target) if target is not None else None


def function_module_calls(infra: Infra) -> list[tuple[TerraformModule, Block]]:
    """Calls of a module that declares a Cloud Function: the ``../function`` calls of modules/platform."""
    calls = []
    for module in infra.modules.values():
        for call in module.module_calls.values():
            target = called_module(infra, module, call)
            if target is not None and target.resources(FUNCTION_RESOURCE):
                calls.append((module, call))
    return calls


# --- R1 functions ---------------------------------------------------------------------------------------

_SERVICE_ACCOUNT_EMAIL = re.compile(r"\$\{google_service_account\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.email\}")
# The Compute Engine and App Engine default accounts: shared by everything in the project, with Editor.
_DEFAULT_ACCOUNT = re.compile(r"-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com")


def check_functions(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    called_directories = {
        local_module_target(module, call)
        for module in infra.modules.values()
        for call in module.module_calls.values()
    }
    for module in infra.modules.values():
        functions_by_account: dict[str, list[Block]] = defaultdict(list)
        for function in module.resources(FUNCTION_RESOURCE):

            def report(message: str, function: Block = function) -> None:
                violations.append(Violation("R1", infra.relative(function.file), function.address, message))

            build = _first_block(function.body, "build_config")
            runtime = build.get("runtime") if build else None
            if string_literal(runtime) != FUNCTION_RUNTIME:
                report(f'build_config.runtime is {_show(runtime)}, not "{FUNCTION_RUNTIME}"')

            service = _first_block(function.body, "service_config")
            email = service.get("service_account_email") if service else None
            account_match = _SERVICE_ACCOUNT_EMAIL.fullmatch(email) if isinstance(email, str) else None
            if not _is_set(email):
                report(
                    "has no service_config.service_account_email: it would run as the default compute account"
                )
            elif _DEFAULT_ACCOUNT.search(str(email)):
                report(f"runs as a default service account ({_show(email)}), which all of the project shares")
            elif account_match is None:
                report(
                    f"service_config.service_account_email is {_show(email)}, not the email of a "
                    "google_service_account declared in this module"
                )
            else:
                account_name = account_match.group(1)
                account = module.resource(SERVICE_ACCOUNT_RESOURCE, account_name)
                if account is None:
                    report(
                        f"runs as google_service_account.{account_name}, which this module does not declare"
                    )
                    continue
                functions_by_account[account_name].append(function)
                # A module called several times creates one account per call only if the id differs per call.
                account_id = _follow_local(module, account.body.get("account_id"))
                if module.directory in called_directories and not any(
                    Reference("var", "name") in _references(code) for code in code_parts(str(account_id))
                ):
                    report(
                        f"its google_service_account.{account_name} has account_id {_show(account_id)}, "
                        "not built from var.name: every call of this module would share one account"
                    )
        for account_name, functions in functions_by_account.items():
            if len(functions) > 1:
                for function in functions:
                    others = ", ".join(f.address for f in functions if f is not function)
                    violations.append(
                        Violation(
                            "R1",
                            infra.relative(function.file),
                            function.address,
                            f"shares google_service_account.{account_name} with {others}: "
                            "each function needs an identity of its own",
                        )
                    )

    # Each call gets the service account fn-<name>, so a repeated name would mean a shared identity.
    first_call_by_name: dict[str, Block] = {}
    for _module, call in function_module_calls(infra):
        name = string_literal(call.body.get("name"))
        if name is None:
            violations.append(
                Violation(
                    "R1",
                    infra.relative(call.file),
                    call.address,
                    f"name is {_show(call.body.get('name'))}, not a string literal, so its uniqueness "
                    "(and with it the function's own service account) cannot be checked",
                )
            )
        elif name in first_call_by_name:
            first = first_call_by_name[name]
            violations.append(
                Violation(
                    "R1",
                    infra.relative(call.file),
                    call.address,
                    f'name "{name}" is also the name of {first.address} ({infra.relative(first.file)}): '
                    "both would run as the same service account, built from the name",
                )
            )
        else:
            first_call_by_name[name] = call
    return violations


# --- R2 push subscriptions ------------------------------------------------------------------------------


def check_push_subscriptions(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    for module in infra.modules.values():
        for subscription in module.resources(PUSH_SUBSCRIPTION_RESOURCE):

            def report(message: str, subscription: Block = subscription) -> None:
                violations.append(
                    Violation("R2", infra.relative(subscription.file), subscription.address, message)
                )

            push = _first_block(subscription.body, "push_config")
            if push is None:
                continue  # a pull subscription: nothing is pushed
            oidc = _first_block(push, "oidc_token")
            if oidc is None:
                report(
                    "push_config has no oidc_token: Pub/Sub would push without a token, and the endpoint "
                    "could not tell Pub/Sub from anyone else"
                )
            else:
                for attribute in ("service_account_email", "audience"):
                    if not _is_set(oidc.get(attribute)):
                        report(f"push_config.oidc_token has no {attribute}")
            dead_letter = _first_block(subscription.body, "dead_letter_policy")
            if dead_letter is None:
                report(
                    "has no dead_letter_policy: a message the endpoint keeps refusing is retried until it "
                    "expires, then lost"
                )
            else:
                for attribute in ("dead_letter_topic", "max_delivery_attempts"):
                    if not _is_set(dead_letter.get(attribute)):
                        report(f"dead_letter_policy has no {attribute}")
            if not nested_blocks(subscription.body, "retry_policy"):
                report("has no retry_policy: Pub/Sub would retry a refused push at once, without backoff")
    return violations


# --- R3 scheduler ---------------------------------------------------------------------------------------


def check_scheduler_jobs(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    for module in infra.modules.values():
        for job in module.resources(SCHEDULER_JOB_RESOURCE):

            def report(message: str, job: Block = job) -> None:
                violations.append(Violation("R3", infra.relative(job.file), job.address, message))

            target = _first_block(job.body, "http_target")
            if target is None:
                continue  # a Pub/Sub or App Engine target: no HTTP token involved
            if nested_blocks(target, "oauth_token"):
                report(
                    "http_target uses oauth_token: that is an access token for Google APIs; a function "
                    "(Cloud Run) accepts an OIDC ID token"
                )
            oidc = _first_block(target, "oidc_token")
            if oidc is None:
                report("http_target has no oidc_token: the function's IAM gate would refuse every run")
            else:
                for attribute in ("service_account_email", "audience"):
                    if not _is_set(oidc.get(attribute)):
                        report(f"http_target.oidc_token has no {attribute}")
    return violations


# --- R4 no secret values --------------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"(?:^|_)(?:secret|secrets|password|passwd|passphrase|token|credential|credentials|private_key|api_key"
    r"|encryption_key|signing_key|secret_value|secret_data|secret_key)$"
)

CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_-]{35}")),
    ("an OAuth access token", re.compile(r"ya29\.[0-9A-Za-z_-]{20,}")),
    ("an OAuth refresh token", re.compile(r"(?<![\w:/])1//[0-9A-Za-z_-]{20,}")),
    ("an OAuth client secret", re.compile(r"GOCSPX-[0-9A-Za-z_-]{10,}")),
)

# Public values that can look random; removed before the entropy scan (the patterns above still see them).
_PUBLIC_VALUES = (
    re.compile(r"[0-9]+-[0-9a-z]+\.apps\.googleusercontent\.com"),  # an OAuth client id: in every consent URL
    re.compile(r"https?://[^\s\"'<>]+"),  # a URL (a JWKS URL, an endpoint): an address, not a secret
    re.compile(r"\b(?:projects|organizations|folders)/[^\s\"'<>]+"),  # a Google resource name
    # The public members of a JSON Web Key (a public key's coordinates, its id); "d" and the other
    # private members are not listed, so a private JWK is still caught.
    re.compile(r'\\?"(?:kid|kty|alg|use|crv|x|y|n|e|x5c|x5t|x5t#S256)\\?"\s*:\s*\\?"[^"\\]*\\?"'),
)
_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{40,}(?![0-9A-Za-z])")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
# Bits per character. Random hex of 40+ characters scores about 3.7, random base64 about 4.8; words,
# identifiers and paths stay below these.
_HEX_MIN_ENTROPY = 3.0
_BASE64_MIN_ENTROPY = 4.5


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_secret_name(name: str) -> bool:
    """Whether a variable's name says it holds a secret (oauth_client_secret, db_password, api_key)."""
    return _SECRET_NAME.search(name) is not None


def credential_kind(text: str) -> str | None:
    """What ``text`` seems to hold ("a Google API key", ...), or None when nothing looks like a credential."""
    for kind, pattern in CREDENTIAL_PATTERNS:
        if pattern.search(text):
            return kind
    scannable = text
    for public in _PUBLIC_VALUES:
        scannable = public.sub(" ", scannable)
    for run in _HEX_RUN.findall(scannable):
        has_digit_and_letter = any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        if has_digit_and_letter and _entropy(run) >= _HEX_MIN_ENTROPY:
            return "a long random hex string (a key, or a hash of one)"
    for run in _BASE64_RUN.findall(scannable):
        mixed = (
            any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run)
        )
        if mixed and _entropy(run) >= _BASE64_MIN_ENTROPY:
            return "a long random base64 string (a key or a token)"
    return None


def check_secret_values(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    for module in infra.modules.values():
        for block in module.blocks:
            if block.kind in ("resource", "data") and block.labels[0] == SECRET_VERSION_RESOURCE:
                what = "writes" if block.kind == "resource" else "reads"
                violations.append(
                    Violation(
                        "R4",
                        infra.relative(block.file),
                        block.address,
                        f"{what} a secret value through Terraform, so it sits in the state: add versions "
                        "with `gcloud secrets versions add` and let the functions read them at run time",
                    )
                )
        for name, variable in module.variables.items():
            # A null default only makes the variable optional; any other default is a value in the code.
            if looks_like_secret_name(name) and variable.body.get("default") is not None:
                violations.append(
                    Violation(
                        "R4",
                        infra.relative(variable.file),
                        variable.address,
                        "its name says it holds a secret, yet it has a default: the value would sit in the "
                        "code; keep the secret in Secret Manager",
                    )
                )
    for path, parsed in infra.terraform_files.items():
        for where, key in _keys_in(parsed):
            if key.startswith("secret_data"):
                violations.append(
                    Violation(
                        "R4",
                        infra.relative(path),
                        where,
                        f"sets {key}: a secret value in Terraform code and state",
                    )
                )
    for path, parsed in [*infra.terraform_files.items(), *infra.tfvars_files.items()]:
        for where, text in walk_strings(parsed, comments=True):
            kind = credential_kind(text)
            if kind is not None:
                violations.append(
                    Violation(
                        "R4",
                        infra.relative(path),
                        where or "(top level)",
                        f"holds what looks like {kind}; secrets go to Secret Manager, never into infra/",
                    )
                )
    return violations


def _keys_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, key) for every attribute and object key of a parsed value."""
    if isinstance(value, list):
        for item in value:
            yield from _keys_in(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in _COMMENT_KEYS or key == _BLOCK_MARKER:
                continue
            where = f"{path}.{_unquote(key)}" if path else _unquote(key)
            yield where, _unquote(key)
            yield from _keys_in(item, where)


# --- R5 entry points ------------------------------------------------------------------------------------

_SOURCE_ZIP = re.compile(r'\$\{var\.function_source_zips\["([^"]+)"\]\}')
# setsubtract(["api", "daily_purge", ...], keys(var.function_source_zips)): the zips a validation requires.
_REQUIRED_ZIP_KEYS = re.compile(r"setsubtract\(\[([^\]]*)\],\s*keys\(var\.function_source_zips\)\)")


def _top_level_functions(main_py: Path) -> set[str]:
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def check_entry_points(infra: Infra, repo_root: Path) -> list[Violation]:
    violations: list[Violation] = []
    directories = discover_functions(repo_root)
    calls_by_entry_point: dict[str, list[Block]] = defaultdict(list)
    for _module, call in function_module_calls(infra):

        def report(message: str, call: Block = call) -> None:
            violations.append(Violation("R5", infra.relative(call.file), call.address, message))

        entry_point = string_literal(call.body.get("entry_point"))
        if entry_point is None:
            report(f"entry_point is {_show(call.body.get('entry_point'))}, not a literal function name")
            continue
        calls_by_entry_point[entry_point].append(call)
        source_zip_path = call.body.get("source_zip_path")
        zip_key = _SOURCE_ZIP.fullmatch(source_zip_path) if isinstance(source_zip_path, str) else None
        if zip_key is None or zip_key.group(1) != entry_point:
            report(
                f"source_zip_path is {_show(source_zip_path)}, "
                f'not var.function_source_zips["{entry_point}"]: the function would be built from another zip'
            )
        if entry_point not in directories:
            report(f'entry_point "{entry_point}" has no functions/{entry_point}/main.py: nothing packages it')
        elif entry_point not in _top_level_functions(repo_root / "functions" / entry_point / "main.py"):
            report(
                f"functions/{entry_point}/main.py defines no top-level function {entry_point}(): "
                "the deployed function would fail to start"
            )
    violations += _required_zip_keys_match(infra, set(directories))
    for name in directories:
        calls = calls_by_entry_point.get(name, [])
        if len(calls) != 1:
            found = ", ".join(f"{c.address} ({infra.relative(c.file)})" for c in calls) or "none"
            violations.append(
                Violation(
                    "R5",
                    f"functions/{name}/main.py",
                    f"functions/{name}",
                    f'needs exactly one Terraform function with entry_point = "{name}", found {found}',
                )
            )
    return violations


def _required_zip_keys_match(infra: Infra, directories: set[str]) -> list[Violation]:
    """The function_source_zips variable lists the zips it requires by name (a validation with a clear
    message, before any module call fails on a missing key): that list must name every function."""
    violations = []
    for module in infra.modules.values():
        variable = module.variables.get("function_source_zips")
        if variable is None:
            continue
        for validation in nested_blocks(variable.body, "validation"):
            listed = _REQUIRED_ZIP_KEYS.search(str(validation.get("condition", "")))
            if listed is None:
                continue
            required = set(re.findall(r'"([^"]+)"', listed.group(1)))
            if required != directories:
                violations.append(
                    Violation(
                        "R5",
                        infra.relative(variable.file),
                        variable.address,
                        f"requires the zips {sorted(required)}, but functions/ holds {sorted(directories)}",
                    )
                )
    return violations


# --- R6 references --------------------------------------------------------------------------------------

_IDENTIFIER = r"[A-Za-z_][\w-]*"
# (?<![\w.]) keeps each.value.var.x or some_local.x from counting as a reference.
_VARIABLE_REFERENCE = re.compile(rf"(?<![\w.])var\.({_IDENTIFIER})")
_LOCAL_REFERENCE = re.compile(rf"(?<![\w.])local\.({_IDENTIFIER})")
_MODULE_REFERENCE = re.compile(rf"(?<![\w.])module\.({_IDENTIFIER})(?:\[[^\]]*\])?(?:\.({_IDENTIFIER}))?")
# Every resource type here comes from the google (or google-beta) provider.
_RESOURCE_REFERENCE = re.compile(rf"(?<![\w.])(google_[a-z0-9_]+)\.({_IDENTIFIER})")
_DATA_REFERENCE = re.compile(rf"(?<![\w.])data\.([a-z][a-z0-9_]*)\.({_IDENTIFIER})")
_MODULE_FILE = re.compile(r"\b(?:file|templatefile)\(\s*\"\$\{path\.module\}/([^\"]+)\"")


@dataclass(frozen=True)
class Reference:
    kind: str  # var, local, module, resource, data, file
    name: str  # the variable, local or module name; "type.name" of a resource or data source; a file path
    attribute: str = ""  # the output read from a module, when there is one


def _references(code: str) -> Iterator[Reference]:
    for name in _VARIABLE_REFERENCE.findall(code):
        yield Reference("var", name)
    for name in _LOCAL_REFERENCE.findall(code):
        yield Reference("local", name)
    for name, attribute in _MODULE_REFERENCE.findall(code):
        yield Reference("module", name, attribute)
    for resource_type, name in _RESOURCE_REFERENCE.findall(code):
        yield Reference("resource", f"{resource_type}.{name}")
    for data_type, name in _DATA_REFERENCE.findall(code):
        yield Reference("data", f"{data_type}.{name}")
    for path in _MODULE_FILE.findall(code):
        yield Reference("file", path)


def _dangling(infra: Infra, module: TerraformModule, reference: Reference) -> str | None:
    """Why ``reference`` does not resolve in ``module``, or None when it does."""
    here = infra.relative(module.directory)
    if reference.kind == "var" and reference.name not in module.variables:
        return f"uses var.{reference.name}, which {here} does not declare"
    if reference.kind == "local" and reference.name not in module.locals:
        return f"uses local.{reference.name}, which {here} does not define"
    if reference.kind == "module":
        call = module.module_calls.get(reference.name)
        if call is None:
            return f"uses module.{reference.name}, which {here} does not call"
        target = called_module(infra, module, call)
        if reference.attribute and target is not None and reference.attribute not in target.outputs:
            return (
                f"uses module.{reference.name}.{reference.attribute}, "
                f"but {infra.relative(target.directory)} has no output {reference.attribute}"
            )
    if reference.kind in ("resource", "data"):
        declared = {".".join(b.labels) for b in module.blocks if b.kind == reference.kind}
        if reference.name not in declared:
            prefix = "data." if reference.kind == "data" else ""
            return f"uses {prefix}{reference.name}, which {here} does not declare"
    if reference.kind == "file" and not (module.directory / reference.name).is_file():
        return f"reads ${{path.module}}/{reference.name}, which does not exist"
    return None


def _reference_sites(block: Block) -> Iterator[tuple[str, dict[str, Any]]]:
    """(address, body) to report references under: each local of a locals block on its own, else the block."""
    if block.kind == "locals":
        for name, value in block.body.items():
            if not name.startswith("__"):
                yield f"local.{name}", {name: value}
    else:
        yield block.address, block.body


def check_references(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    for module in infra.modules.values():
        for block in module.blocks:
            if block.kind in _ADDRESS_ONLY_BLOCKS:
                continue
            for address, body in _reference_sites(block):
                # A set: a reference used five times in one place is one problem.
                problems = {_dangling(infra, module, r) for code in _code_in(body) for r in _references(code)}
                for problem in sorted(p for p in problems if p is not None):
                    violations.append(Violation("R6", infra.relative(block.file), address, problem))

        for call in module.module_calls.values():
            if local_module_target(module, call) is None:
                continue  # a registry module: its variables are not here to check against
            target = called_module(infra, module, call)

            def report(message: str, call: Block = call) -> None:
                violations.append(Violation("R6", infra.relative(call.file), call.address, message))

            if target is None:
                report(
                    f"source {_show(call.body.get('source'))} is not a directory of .tf files under infra/"
                )
                continue
            there = infra.relative(target.directory)
            arguments = {k for k in call.body if not k.startswith("__") and k not in _MODULE_META_ARGUMENTS}
            for argument in sorted(arguments - set(target.variables)):
                report(f"passes {argument}, which is not a variable of {there}")
            for name, variable in sorted(target.variables.items()):
                if "default" not in variable.body and name not in arguments:
                    report(f"does not pass {name}, a variable of {there} without a default")

    for path, values in infra.tfvars_files.items():
        tfvars_module = infra.modules.get(path.parent)
        if tfvars_module is None:
            continue
        for key in values:
            if not key.startswith("__") and key not in tfvars_module.variables:
                violations.append(
                    Violation(
                        "R6",
                        infra.relative(path),
                        key,
                        f"sets {key}, which {infra.relative(path.parent)} does not declare as a variable",
                    )
                )
    return violations


# --- R7 API schema --------------------------------------------------------------------------------------

# Resource type -> (discovery document, schema of the object it creates). The provider names each field
# after the API's (ack_deadline_seconds is ackDeadlineSeconds) for these resources, so a name the schema
# lacks is a typo that only `terraform validate` would otherwise catch.
API_OBJECTS = {
    "google_cloudfunctions2_function": ("cloudfunctions.v2", "Function"),
    "google_pubsub_topic": ("pubsub.v1", "Topic"),
    "google_pubsub_subscription": ("pubsub.v1", "Subscription"),
    "google_cloud_scheduler_job": ("cloudscheduler.v1", "Job"),
    "google_logging_metric": ("logging.v2", "LogMetric"),
    "google_monitoring_alert_policy": ("monitoring.v3", "AlertPolicy"),
}
# Where the object lives (part of its name in the API) and Terraform's own meta-arguments.
_NOT_API_FIELDS = frozenset(
    {"project", "location", "region", "count", "for_each", "depends_on", "lifecycle", "provider"}
)


@functools.lru_cache(maxsize=16)
def discovery_document(name: str) -> dict[str, Any]:
    """A discovery document as google-api-python-client bundles it (no network)."""
    import json
    from importlib.resources import files

    path = files("googleapiclient") / "discovery_cache" / "documents" / f"{name}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _arguments(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, value) of a body's arguments and nested blocks; a dynamic block gives its content blocks."""
    for key, value in body.items():
        if key.startswith("__") or key == "dynamic":
            continue
        yield key, value
    for dynamic in body.get("dynamic", []):
        for label, dynamic_body in dynamic.items():
            yield _unquote(label), nested_blocks(dynamic_body, "content")


def api_schema_problems(
    value: dict[str, Any], schema: str, document: dict[str, Any], *, where: str = "", hcl: bool = True
) -> Iterator[str]:
    """What in ``value`` (a parsed HCL body, or with ``hcl=False`` a JSON object) the schema lacks."""
    properties = document["schemas"][schema].get("properties", {})
    pairs = _arguments(value) if hcl else ((k, v) for k, v in value.items())
    for key, item in pairs:
        if hcl and key in _NOT_API_FIELDS:
            continue
        field = _camel(key) if hcl else key
        here = f"{where}.{key}" if where else key
        spec = properties.get(field)
        if spec is None:
            yield f"{here}: {schema} ({document['name']} {document['version']}) has no field {field}"
            continue
        element = spec.get("items", spec)
        children = [i for i in item if isinstance(i, dict)] if isinstance(item, list) else [item]
        if "$ref" in element:
            for child in children:
                if isinstance(child, dict) and (not hcl or child.get(_BLOCK_MARKER)):
                    yield from api_schema_problems(child, element["$ref"], document, where=here, hcl=hcl)
        elif "enum" in element:
            values = item if isinstance(item, list) and not hcl else [item]
            for one in values:
                literal = string_literal(one) if hcl else one
                if isinstance(literal, str) and literal not in element["enum"]:
                    yield f"{here}: {literal!r} is not one of {field}'s values ({', '.join(element['enum'])})"


def check_api_schema(infra: Infra) -> list[Violation]:
    violations: list[Violation] = []
    for module in infra.modules.values():
        for resource_type, (document_name, schema) in API_OBJECTS.items():
            document = discovery_document(document_name)
            for block in module.resources(resource_type):
                for problem in api_schema_problems(block.body, schema, document):
                    violations.append(Violation("R7", infra.relative(block.file), block.address, problem))
    return violations


# --- All rules, and what they looked at -----------------------------------------------------------------


def check_all(infra: Infra, repo_root: Path) -> list[Violation]:
    """Every rule's violations, sorted by rule, file and address."""
    return sorted(
        [
            *check_functions(infra),
            *check_push_subscriptions(infra),
            *check_scheduler_jobs(infra),
            *check_secret_values(infra),
            *check_entry_points(infra, repo_root),
            *check_references(infra),
            *check_api_schema(infra),
        ]
    )


@dataclass(frozen=True)
class Inventory:
    """What the rules found to check; a parser change that finds nothing must not look like a clean run."""

    terraform_files: int
    tfvars_files: int
    modules: int
    function_resources: int
    function_module_calls: int
    function_directories: int
    push_subscriptions: int  # instances: a for_each over a local map counts its keys
    scheduler_http_jobs: int  # instances, as for push subscriptions
    api_schema_resources: int  # resource blocks R7 checks against Google's API schemas
    variables: int
    references: int
    strings_scanned: int

    def __str__(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in vars(self).items())


def _instance_count(module: TerraformModule, block: Block) -> int:
    """Instances of a resource: the keys of a for_each over a local map, a literal count, else one."""
    count = block.body.get("count")
    if isinstance(count, int):
        return count
    for_each = _follow_local(module, block.body.get("for_each"))
    if isinstance(for_each, dict):
        return len([k for k in for_each if not k.startswith("__")])
    return 1


def inventory(infra: Infra, repo_root: Path) -> Inventory:
    push_subscriptions = [
        (module, s)
        for module in infra.modules.values()
        for s in module.resources(PUSH_SUBSCRIPTION_RESOURCE)
        if nested_blocks(s.body, "push_config")
    ]
    all_files = [*infra.terraform_files.values(), *infra.tfvars_files.values()]
    return Inventory(
        terraform_files=len(infra.terraform_files),
        tfvars_files=len(infra.tfvars_files),
        modules=len(infra.modules),
        function_resources=sum(len(m.resources(FUNCTION_RESOURCE)) for m in infra.modules.values()),
        function_module_calls=len(function_module_calls(infra)),
        function_directories=len(discover_functions(repo_root)),
        push_subscriptions=sum(_instance_count(module, s) for module, s in push_subscriptions),
        scheduler_http_jobs=sum(
            _instance_count(m, job)
            for m in infra.modules.values()
            for job in m.resources(SCHEDULER_JOB_RESOURCE)
            if nested_blocks(job.body, "http_target")
        ),
        api_schema_resources=sum(
            len(m.resources(resource_type)) for m in infra.modules.values() for resource_type in API_OBJECTS
        ),
        variables=sum(len(m.variables) for m in infra.modules.values()),
        references=sum(
            1
            for m in infra.modules.values()
            for b in m.blocks
            for code in _code_in(b.body)
            for _ in _references(code)
        ),
        strings_scanned=sum(1 for parsed in all_files for _ in walk_strings(parsed, comments=True)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.infra.rules",
        description="Checks the structural rules R1-R6 on a Terraform tree; exits 1 on any violation.",
    )
    parser.add_argument(
        "infra", type=Path, nargs="?", default=Path("infra"), help="infra root (default: infra)"
    )
    parser.add_argument(
        "--repo-root",
        type=Path,
        default=None,
        help="the directory holding functions/ (default: INFRA's parent)",
    )
    args = parser.parse_args(argv)
    repo_root = args.repo_root if args.repo_root is not None else args.infra.resolve().parent
    try:
        infra = load_infra(args.infra)
        violations = check_all(infra, repo_root)
        checked = inventory(infra, repo_root)
    except (InfraParseError, PackagingError) as error:
        print(f"rules: error: {error}", file=sys.stderr)
        return 2
    for violation in violations:
        print(violation)
    if violations:
        fired = ", ".join(sorted({v.rule for v in violations}))
        print(f"{len(violations)} violation(s) of {fired}; checked {checked}", file=sys.stderr)
        return 1
    print(f"no violations of {', '.join(RULES)}; checked {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
