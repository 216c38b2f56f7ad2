"""The structural rules of tests/infra/rules.py: the real infra/ passes them, and each rule catches its break.

Each break test copies infra/ and functions/ into a temporary directory, makes one deliberate textual
change, and expects exactly the rules it names to fire (with a message saying what broke). A break whose
text is no longer in infra/ fails loudly, so a change to infra/ cannot turn a break test into a no-op.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra import rules

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]

FUNCTION_MAIN = "infra/modules/function/main.tf"
PLATFORM_MAIN = "infra/modules/platform/main.tf"
PLATFORM_FUNCTIONS = "infra/modules/platform/functions.tf"
PLATFORM_PUSH = "infra/modules/platform/push.tf"
PLATFORM_PUBSUB = "infra/modules/platform/pubsub.tf"
PLATFORM_SCHEDULER = "infra/modules/platform/scheduler.tf"
PLATFORM_SECRETS = "infra/modules/platform/secrets.tf"
PLATFORM_FIRESTORE = "infra/modules/platform/firestore.tf"
PLATFORM_VARIABLES = "infra/modules/platform/variables.tf"
PLATFORM_MONITORING = "infra/modules/platform/monitoring.tf"
DEV_TFVARS_EXAMPLE = "infra/environments/dev/terraform.tfvars.example"

# Fake credentials, assembled from pieces so that this file itself holds no string a secret scanner
# (GitHub push protection, checkov) would take for a real one.
FAKE_CLIENT_SECRET = "GOCSPX" + "-NotARealClientSecret0000000"
FAKE_API_KEY = "AIza" + "SyNotARealKeyNotARealKeyNotARealK00"
FAKE_ACCESS_TOKEN = "ya29" + ".a0NotARealAccessTokenNotARealAccessToken"
FAKE_REFRESH_TOKEN = "1//" + "0gNotARealRefreshTokenNotARealRefreshToken"
FAKE_PEM_HEADER = "-----BEGIN " + "PRIVATE KEY-----"
# 32 bytes that look random, as a token-encryption key would, in base64 and in hex.
RANDOM_BYTES = hashlib.sha256(b"not a real key").digest()
RANDOM_BASE64 = base64.b64encode(RANDOM_BYTES).decode()
RANDOM_HEX = RANDOM_BYTES.hex()


# --- Editing the copy -----------------------------------------------------------------------------------


def replace_once(root: Path, relative: str, pattern: str, replacement: str) -> None:
    """Replaces the first match of ``pattern`` (a regex, multiline) in one file of the copy; fails if none."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    if count == 0:
        pytest.fail(f"the break's pattern {pattern!r} is not in {relative}: infra changed, update this break")
    path.write_text(changed, encoding="utf-8")


def delete_block(root: Path, relative: str, header_pattern: str) -> None:
    """Deletes the block whose header matches ``header_pattern``, up to its closing brace; fails if none."""
    path = root / relative
    text = path.read_text(encoding="utf-8")
    header = re.search(header_pattern, text, flags=re.MULTILINE)
    if header is None:
        pytest.fail(f"no block matching {header_pattern!r} in {relative}: infra changed, update this break")
    end = rules.closing_brace(text, text.index("{", header.start()))
    path.write_text(text[: header.start()] + text[end + 1 :], encoding="utf-8")


def append(root: Path, relative: str, text: str) -> None:
    path = root / relative
    if not path.is_file():
        pytest.fail(f"{relative} is gone: infra changed, update this break")
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


# --- The breaks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    apply: Callable[[Path], None]  # edits the copy whose root (holding infra/ and functions/) it is given
    rules: frozenset[str]  # the rules that must fire, and no other
    says: str  # part of the message of at least one of the violations


def _break(apply: Callable[[Path], None], says: str, *fired: str) -> Break:
    return Break(apply, frozenset(fired), says)


SECOND_FUNCTION_ON_THE_SAME_ACCOUNT = """
resource "google_cloudfunctions2_function" "shadow" {
  project  = var.project
  location = var.region
  name     = "${var.name}-shadow"

  build_config {
    runtime     = "python312"
    entry_point = var.entry_point
  }

  service_config {
    service_account_email = google_service_account.runtime.email
  }
}
"""

SECRET_VERSION = """
resource "google_secret_manager_secret_version" "oauth_client_secret" {
  secret      = google_secret_manager_secret.this["oauth-client-secret"].id
  secret_data = "not-a-real-secret"
}
"""

SECRET_VARIABLE_WITH_DEFAULT = """
variable "oauth_client_secret" {
  description = "Client secret of the OAuth client."
  type        = string
  default     = "change-me"
}
"""


def _add_function_directory(root: Path) -> None:
    main_py = root / "functions" / "export_worker" / "main.py"
    main_py.parent.mkdir()
    main_py.write_text("def export_worker(request):\n    return 'ok'\n", encoding="utf-8")


def _remove_function_directory(root: Path) -> None:
    directory = root / "functions" / "purge_worker"
    if not directory.is_dir():
        pytest.fail("functions/purge_worker is gone: update this break")
    shutil.rmtree(directory)


BREAKS: dict[str, Break] = {
    # R1 functions
    "r1-runtime-python311": _break(
        lambda root: replace_once(
            root, FUNCTION_MAIN, r'runtime(\s*)= "python312"', r'runtime\1= "python311"'
        ),
        'not "python312"',
        "R1",
    ),
    "r1-service-account-email-literal": _break(
        lambda root: replace_once(
            root,
            FUNCTION_MAIN,
            r"service_account_email(\s*)= google_service_account\.runtime\.email",
            r'service_account_email\1= "fn-api@crm-google-dev.iam.gserviceaccount.com"',
        ),
        "not the email of a google_service_account declared in this module",
        "R1",
    ),
    "r1-default-compute-account": _break(
        lambda root: replace_once(
            root,
            FUNCTION_MAIN,
            r"service_account_email(\s*)= google_service_account\.runtime\.email",
            r'service_account_email\1= "123456789012-compute@developer.gserviceaccount.com"',
        ),
        "runs as a default service account",
        "R1",
    ),
    "r1-account-shared-by-two-functions": _break(
        lambda root: append(root, FUNCTION_MAIN, SECOND_FUNCTION_ON_THE_SAME_ACCOUNT),
        "shares google_service_account.runtime",
        "R1",
    ),
    "r1-account-id-not-per-call": _break(
        lambda root: replace_once(
            root, FUNCTION_MAIN, r'account_id(\s*)= "fn-\$\{var\.name\}"', r'account_id\1= "fn-shared"'
        ),
        "not built from var.name",
        "R1",
    ),
    "r1-two-calls-same-name": _break(
        lambda root: replace_once(
            root, PLATFORM_FUNCTIONS, r'^(\s*)name(\s*)= "purge-worker"', r'\1name\2= "sync-worker"'
        ),
        'name "sync-worker" is also the name of module.sync_worker',
        "R1",
    ),
    # R2 push subscriptions
    "r2-push-without-oidc-token": _break(
        lambda root: replace_once(root, PLATFORM_PUSH, r"^\s*oidc_token\s*\{[^{}]*\}\n", ""),
        "push_config has no oidc_token",
        "R2",
    ),
    "r2-oidc-token-without-audience": _break(
        lambda root: replace_once(root, PLATFORM_PUSH, r"^\s*audience\s*=\s*each\.value\.endpoint\n", ""),
        "oidc_token has no audience",
        "R2",
    ),
    "r2-no-dead-letter-policy": _break(
        lambda root: replace_once(root, PLATFORM_PUSH, r"^\s*dead_letter_policy\s*\{[^{}]*\}\n", ""),
        "has no dead_letter_policy",
        "R2",
    ),
    "r2-no-max-delivery-attempts": _break(
        lambda root: replace_once(root, PLATFORM_PUSH, r"^\s*max_delivery_attempts\s*=.*\n", ""),
        "dead_letter_policy has no max_delivery_attempts",
        "R2",
    ),
    "r2-no-retry-policy": _break(
        lambda root: replace_once(root, PLATFORM_PUSH, r"^\s*retry_policy\s*\{[^{}]*\}\n", ""),
        "has no retry_policy",
        "R2",
    ),
    # R3 scheduler
    # An OAuth token has a scope, not an audience: the API schema (R7) refuses the renamed block too.
    "r3-oauth-token-instead-of-oidc": _break(
        lambda root: replace_once(root, PLATFORM_SCHEDULER, r"\boidc_token(\s*)\{", r"oauth_token\1{"),
        "http_target uses oauth_token",
        "R3",
        "R7",
    ),
    "r3-no-token": _break(
        lambda root: replace_once(root, PLATFORM_SCHEDULER, r"^\s*oidc_token\s*\{[^{}]*\}\n", ""),
        "http_target has no oidc_token",
        "R3",
    ),
    # R4 no secret values
    "r4-secret-version-resource": _break(
        lambda root: append(root, PLATFORM_SECRETS, SECRET_VERSION),
        "writes a secret value through Terraform",
        "R4",
    ),
    "r4-secret-data-attribute": _break(
        lambda root: replace_once(
            root,
            PLATFORM_SECRETS,
            r"^(\s*)secret_id(\s*)= each\.key\n",
            '\\g<0>\\1secret_data = "not-a-real-secret"\n',
        ),
        "sets secret_data",
        "R4",
    ),
    "r4-secret-variable-with-default": _break(
        lambda root: append(root, PLATFORM_VARIABLES, SECRET_VARIABLE_WITH_DEFAULT),
        "its name says it holds a secret",
        "R4",
    ),
    "r4-client-secret-in-tfvars-example": _break(
        lambda root: replace_once(
            root,
            DEV_TFVARS_EXAMPLE,
            r'crm_jwt_issuer(\s*)= "crm-backend"',
            rf'crm_jwt_issuer\1= "{FAKE_CLIENT_SECRET}"',
        ),
        "an OAuth client secret",
        "R4",
    ),
    "r4-private-key-in-heredoc": _break(
        lambda root: append(
            root,
            PLATFORM_MAIN,
            f"locals {{\n  signing_key = <<-EOT\n    {FAKE_PEM_HEADER}\n    MIIEvQ\n  EOT\n}}\n",
        ),
        "a PEM private key",
        "R4",
    ),
    "r4-api-key-in-comment": _break(
        lambda root: append(root, PLATFORM_FUNCTIONS, f"# Maps key for the demo: {FAKE_API_KEY}\n"),
        "a Google API key",
        "R4",
    ),
    "r4-random-base64-blob": _break(
        lambda root: append(root, PLATFORM_MAIN, f'locals {{\n  token_key = "{RANDOM_BASE64}"\n}}\n'),
        "a long random base64 string",
        "R4",
    ),
    # R5 entry points <-> Terraform
    "r5-function-directory-without-terraform": _break(
        _add_function_directory,
        'entry_point = "export_worker", found none',
        "R5",
    ),
    "r5-entry-point-not-defined-in-main-py": _break(
        lambda root: replace_once(
            root, "functions/daily_purge/main.py", r"^def daily_purge\(", "def run_daily_purge("
        ),
        "defines no top-level function daily_purge()",
        "R5",
    ),
    "r5-source-zip-of-another-function": _break(
        lambda root: replace_once(
            root,
            PLATFORM_FUNCTIONS,
            r'function_source_zips\["purge_worker"\]',
            'function_source_zips["sync_worker"]',
        ),
        'not var.function_source_zips["purge_worker"]',
        "R5",
    ),
    "r5-terraform-function-without-directory": _break(
        _remove_function_directory,
        "has no functions/purge_worker/main.py: nothing packages it",
        "R5",
    ),
    "r5-zip-list-misses-a-function": _break(
        lambda root: replace_once(root, PLATFORM_VARIABLES, r'"purge_worker", ', ""),
        "requires the zips",
        "R5",
    ),
    # R7 fields and enum values against Google's API schemas
    "r7-misspelt-argument": _break(
        lambda root: replace_once(
            root, PLATFORM_PUSH, r"^  ack_deadline_seconds(\s*)= each", r"  ack_deadline_secs\1= each"
        ),
        "Subscription (pubsub v1) has no field ackDeadlineSecs",
        "R7",
    ),
    "r7-misspelt-argument-of-a-nested-block": _break(
        lambda root: replace_once(
            root, FUNCTION_MAIN, r"max_instance_request_concurrency", "max_request_concurrency"
        ),
        "service_config.max_request_concurrency: ServiceConfig (cloudfunctions v2) has no field",
        "R7",
    ),
    "r7-enum-value-typo-in-a-dynamic-block": _break(
        lambda root: replace_once(root, PLATFORM_MONITORING, r'"ALIGN_SUM"', '"ALIGN_TOTAL"'),
        "'ALIGN_TOTAL' is not one of perSeriesAligner's values",
        "R7",
    ),
    # Deleting a call also leaves module.daily_purge dangling where other resources use it: R6 too.
    "r5-module-call-deleted": _break(
        lambda root: delete_block(root, PLATFORM_FUNCTIONS, r'^module "daily_purge"'),
        'entry_point = "daily_purge", found none',
        "R5",
        "R6",
    ),
    # R6 references resolve
    "r6-undeclared-variable": _break(
        lambda root: replace_once(root, FUNCTION_MAIN, r"\bvar\.project\b", "var.project_name"),
        "uses var.project_name, which infra/modules/function does not declare",
        "R6",
    ),
    "r6-undefined-local": _break(
        lambda root: replace_once(root, FUNCTION_MAIN, r"= local\.labels\b", "= local.label_set"),
        "uses local.label_set",
        "R6",
    ),
    "r6-undeclared-module": _break(
        lambda root: replace_once(root, PLATFORM_PUBSUB, r"\bmodule\.api\.", "module.apis."),
        "uses module.apis, which infra/modules/platform does not call",
        "R6",
    ),
    "r6-missing-module-output": _break(
        lambda root: replace_once(
            root,
            PLATFORM_PUBSUB,
            r"\bmodule\.api\.service_account_member\b",
            "module.api.service_account_members",
        ),
        "has no output service_account_members",
        "R6",
    ),
    "r6-undeclared-resource": _break(
        lambda root: replace_once(
            root,
            PLATFORM_FUNCTIONS,
            r"google_storage_bucket\.function_sources\.",
            "google_storage_bucket.function_source.",
        ),
        "uses google_storage_bucket.function_source,",
        "R6",
    ),
    "r6-unknown-module-argument": _break(
        lambda root: replace_once(
            root, PLATFORM_FUNCTIONS, r'^(\s*)source(\s*)= "\.\./function"\n', '\\g<0>\\1colour = "blue"\n'
        ),
        "passes colour, which is not a variable of infra/modules/function",
        "R6",
    ),
    "r6-required-argument-missing": _break(
        lambda root: replace_once(root, PLATFORM_FUNCTIONS, r"^\s*bucket\s*=.*\n", ""),
        "does not pass bucket",
        "R6",
    ),
    "r6-tfvars-sets-undeclared-variable": _break(
        lambda root: append(root, DEV_TFVARS_EXAMPLE, 'colour = "blue"\n'),
        "sets colour",
        "R6",
    ),
    "r6-file-read-from-path-module-missing": _break(
        lambda root: replace_once(
            root, PLATFORM_FIRESTORE, r"\.\./firestore/indexes\.json", "../firestore/indices.json"
        ),
        "firestore/indices.json, which does not exist",
        "R6",
    ),
}


# --- Tests ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_infra() -> rules.Infra:
    return rules.load_infra(REPO_ROOT / "infra")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """infra/ and functions/ copied into tmp_path, ready to break."""
    shutil.copytree(
        REPO_ROOT / "infra", tmp_path / "infra", ignore=shutil.ignore_patterns(".terraform", "*.tfstate*")
    )
    shutil.copytree(
        REPO_ROOT / "functions", tmp_path / "functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_real_infra_has_no_violations(real_infra: rules.Infra) -> None:
    violations = rules.check_all(real_infra, REPO_ROOT)
    print(f"rules {', '.join(rules.RULES)} checked {rules.inventory(real_infra, REPO_ROOT)}")
    assert violations == [], "\n" + "\n".join(str(v) for v in violations)


def test_real_infra_gave_the_rules_something_to_check(real_infra: rules.Infra) -> None:
    # A parser change that finds no blocks would pass every rule; these floors make that a failure.
    checked = rules.inventory(real_infra, REPO_ROOT)
    assert checked.terraform_files >= 20, checked
    assert checked.tfvars_files >= 2, checked
    assert checked.modules >= 5, checked
    assert checked.function_resources >= 1, checked
    assert checked.function_module_calls >= 7, checked
    assert checked.function_directories >= 7, checked
    assert checked.push_subscriptions >= 3, checked
    assert checked.scheduler_http_jobs >= 2, checked
    assert checked.api_schema_resources >= 8, checked
    assert checked.variables >= 50, checked
    assert checked.references >= 300, checked
    assert checked.strings_scanned >= 1000, checked


def test_an_unbroken_copy_has_no_violations(repo_copy: Path) -> None:
    # The break tests compare against this: the copy alone must not change the outcome.
    assert rules.check_all(rules.load_infra(repo_copy / "infra"), repo_copy) == []


@pytest.mark.parametrize("broken", BREAKS.values(), ids=BREAKS.keys())
def test_a_break_fires_its_rule_and_no_other(broken: Break, repo_copy: Path) -> None:
    broken.apply(repo_copy)

    violations = rules.check_all(rules.load_infra(repo_copy / "infra"), repo_copy)

    listing = "\n" + "\n".join(str(v) for v in violations)
    assert {v.rule for v in violations} == broken.rules, listing
    assert any(broken.says in v.message for v in violations), listing


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (FAKE_CLIENT_SECRET, "an OAuth client secret"),
        (f"key={FAKE_API_KEY}", "a Google API key"),
        (f"Bearer {FAKE_ACCESS_TOKEN}", "an OAuth access token"),
        (FAKE_REFRESH_TOKEN, "an OAuth refresh token"),
        (f"<<-EOT\n{FAKE_PEM_HEADER}\nMIIE\nEOT", "a PEM private key"),
        (RANDOM_BASE64, "a long random base64 string (a key or a token)"),
        (RANDOM_HEX, "a long random hex string (a key, or a hash of one)"),
        # A JWK's private member "d" is not exempt, though its public "x" and "y" are.
        (
            f'{{"kty": "EC", "x": "{RANDOM_BASE64}", "d": "{RANDOM_BASE64}"}}',
            "a long random base64 string (a key or a token)",
        ),
    ],
)
def test_credential_detector_catches(text: str, kind: str) -> None:
    assert rules.credential_kind(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "123456789012-abc123def456ghi789jkl012mno345pq.apps.googleusercontent.com",
        "000000000000-replace-with-dev-client-id.apps.googleusercontent.com",
        "https://www.googleapis.com/oauth2/v3/certs",
        "https://crm.example.com/.well-known/jwks.json?kid=Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90",
        # A JWKS with public keys only: its coordinates look random but are public.
        f'{{"keys": [{{"kty": "EC", "x": "{RANDOM_BASE64}", "y": "{RANDOM_BASE64[::-1]}"}}]}}',
        "projects/crm-google-prod/notificationChannels/1234567890123456789",
        "projects/123456789012/secrets/oauth-client-secret/versions/latest",
        "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com",
        "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
        "source_noncurrent_retention_days",
        "-" * 80,
        "1234567890123456789012345678901234567890",
    ],
)
def test_credential_detector_lets_public_values_through(text: str) -> None:
    assert rules.credential_kind(text) is None


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("oauth_client_secret", True),
        ("db_password", True),
        ("token_encryption_key", True),
        ("api_key", True),
        ("github_token", True),
        ("secret_replica_locations", False),
        ("google_oauth_client_id", False),
        ("crm_jwt_jwks", False),
        ("push_coalesce_seconds", False),
    ],
)
def test_secret_variable_names(name: str, secret: bool) -> None:
    assert rules.looks_like_secret_name(name) is secret


def test_command_line_exits_1_on_a_violation(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rules.main([str(repo_copy / "infra")]) == 0
    BREAKS["r2-no-retry-policy"].apply(repo_copy)

    assert rules.main([str(repo_copy / "infra")]) == 1
    assert "R2 infra/modules/platform/push.tf: google_pubsub_subscription.push: has no retry_policy" in (
        capsys.readouterr().out
    )
