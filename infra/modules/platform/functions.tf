# The deployed functions, one module call each. The settings they read are documented in shared/config.py.
# Function names use hyphens (the Cloud Run service takes the same name); entry points and the keys of
# function_source_zips are the Python names.

locals {
  # A gen2 function's cloudfunctions.net URL is fixed by region, project and name, so it is computed
  # here: oauth-callback and renew-watches need their own URL in their environment, which read from the
  # function would be a dependency cycle. Not a variable, so the URL the code uses cannot drift from
  # where the function lives; check "function_urls" compares it with the URL Google reports.
  function_base_url  = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  oauth_callback_url = "${local.function_base_url}/oauth-callback"
  renew_watches_url  = "${local.function_base_url}/renew-watches"

  # The code sends Google's consent back to <OAUTH_CALLBACK_URL>/callback: the client's redirect URI.
  oauth_redirect_uri = "${local.oauth_callback_url}/callback"

  # The connect flow's settings, read by api (authorization URL, disconnect) and oauth-callback alike.
  oauth_environment = {
    GOOGLE_OAUTH_CLIENT_ID     = var.google_oauth_client_id
    OAUTH_CALLBACK_URL         = local.oauth_callback_url
    CRM_RETURN_ORIGINS         = join(",", var.crm_return_origins)
    GMAIL_PUSH_TOPIC           = module.topics["gmail-notifications"].id
    MAIL_READ_STATE_WRITE_BACK = tostring(var.mail_read_state_write_back)
  }

  renew_watches_timeout_seconds = 540

  # Runtime identity per function, for the bindings below, in pubsub.tf and in secrets.tf.
  function_members = {
    api            = module.api.service_account_member
    oauth-callback = module.oauth_callback.service_account_member
    renew-watches  = module.renew_watches.service_account_member
  }
}

module "api" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "api"
  description           = "HTTPS JSON API that the CRM backend calls."
  entry_point           = "api"
  source_zip_path       = var.function_source_zips["api"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = merge(local.oauth_environment, {
    ENVIRONMENT             = var.environment
    GOOGLE_CLOUD_PROJECT    = var.project_id
    CRM_JWT_ISSUER          = var.crm_jwt_issuer
    CRM_JWT_AUDIENCE        = var.crm_jwt_audience
    CRM_JWT_JWKS            = var.crm_jwt_jwks
    SYNC_REQUESTS_TOPIC     = module.topics["sync-requests"].name
    OUTBOUND_REQUESTS_TOPIC = module.topics["outbound-requests"].name
    PURGE_REQUESTS_TOPIC    = module.topics["purge-requests"].name
  })

  min_instances   = var.api.min_instances
  max_instances   = var.api.max_instances
  memory          = var.api.memory
  cpu             = var.api.cpu
  concurrency     = var.api.concurrency
  timeout_seconds = var.api.timeout_seconds

  # The CRM backend runs outside this project's network, so ingress is open; IAM is the gate: only
  # the CRM backend's service account may invoke, and the function also checks the CRM's own JWT.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${var.crm_backend_service_account}"]

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}

module "oauth_callback" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "oauth-callback"
  description           = "The user's browser on its way to Google's consent screen (/start) and back (/callback)."
  entry_point           = "oauth_callback"
  source_zip_path       = var.function_source_zips["oauth_callback"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = merge(local.oauth_environment, {
    ENVIRONMENT          = var.environment
    GOOGLE_CLOUD_PROJECT = var.project_id
    SYNC_REQUESTS_TOPIC  = module.topics["sync-requests"].name
  })

  memory = "512Mi"

  # A browser cannot present a Google ID token, so Cloud Run lets every request in; the code then
  # accepts only a one-time OAuth state (10 minutes) bound to a cookie of the browser that started it.
  ingress_settings        = "ALLOW_ALL"
  public_browser_endpoint = true

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}

module "renew_watches" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "renew-watches"
  description           = "Called daily by Cloud Scheduler: renews Gmail watches before Google lets them lapse."
  entry_point           = "renew_watches"
  source_zip_path       = var.function_source_zips["renew_watches"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT                = var.environment
    GOOGLE_CLOUD_PROJECT       = var.project_id
    GOOGLE_OAUTH_CLIENT_ID     = var.google_oauth_client_id
    GMAIL_PUSH_TOPIC           = module.topics["gmail-notifications"].id
    SCHEDULER_AUDIENCES        = local.renew_watches_url
    SCHEDULER_SERVICE_ACCOUNTS = local.scheduler_invoker_email
    # Cloud Run IAM checks Scheduler's token (only scheduler-invoker may invoke) and hands the code
    # the token with its signature removed, so a second check in code ("oidc") would refuse every run.
    SCHEDULER_AUTH = "platform"
  }

  memory          = "512Mi"
  timeout_seconds = local.renew_watches_timeout_seconds
  # One run a day walks every connection; a second instance would only renew the same watches again.
  max_instances = 1

  # Cloud Scheduler calls from outside any VPC, so ingress is open; IAM is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.scheduler_invoker_email}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.scheduler_invoker, # the invoker binding names it
  ]
}

resource "google_project_iam_member" "firestore_user" {
  # Firestore grants exist only on the project (it holds one database). Read and write documents; no
  # administration of the database, its indexes or exports.
  for_each = local.function_members

  project = var.project_id
  role    = "roles/datastore.user"
  member  = each.value
}

check "function_urls" {
  assert {
    condition     = module.oauth_callback.url == local.oauth_callback_url && module.renew_watches.url == local.renew_watches_url
    error_message = "Google reports URLs for oauth-callback or renew-watches other than the ones computed in functions.tf: OAUTH_CALLBACK_URL, the OAuth redirect URI and the Scheduler target would be wrong."
  }
}
