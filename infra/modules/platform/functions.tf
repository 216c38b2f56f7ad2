# The deployed functions, one module call each. The settings they read are documented in shared/config.py.
# Function names use hyphens (the Cloud Run service takes the same name); entry points and the keys of
# function_source_zips are the Python names.

locals {
  # A gen2 function's cloudfunctions.net URL is fixed by region, project and name, so it is computed
  # here: oauth-callback and the scheduled functions need their own URL in their environment, which
  # read from the function would be a dependency cycle. Not a variable, so the URL the code uses cannot
  # drift from where the function lives; check "function_urls" compares it with the URL Google reports.
  # The push subscriptions (push.tf) use these as endpoint and OIDC audience.
  function_base_url   = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  oauth_callback_url  = "${local.function_base_url}/oauth-callback"
  renew_watches_url   = "${local.function_base_url}/renew-watches"
  gmail_push_url      = "${local.function_base_url}/gmail-push"
  calendar_push_url   = "${local.function_base_url}/calendar-push"
  drive_push_url      = "${local.function_base_url}/drive-push"
  sync_worker_url     = "${local.function_base_url}/sync-worker"
  daily_purge_url     = "${local.function_base_url}/daily-purge"
  purge_worker_url    = "${local.function_base_url}/purge-worker"
  outbound_worker_url = "${local.function_base_url}/outbound-worker"

  # The code sends Google's consent back to <OAUTH_CALLBACK_URL>/callback: the client's redirect URI.
  oauth_redirect_uri = "${local.oauth_callback_url}/callback"

  # The connect flow's settings, read by api (authorization URL, disconnect) and oauth-callback alike.
  # Both open push channels (a connect; a plan change or calendar selection in api), so both need where
  # Gmail publishes and where Calendar and Drive channels POST; renew-watches sets the same three for its
  # renewals.
  oauth_environment = {
    GOOGLE_OAUTH_CLIENT_ID     = var.google_oauth_client_id
    OAUTH_CALLBACK_URL         = local.oauth_callback_url
    CRM_RETURN_ORIGINS         = join(",", var.crm_return_origins)
    GMAIL_PUSH_TOPIC           = module.topics["gmail-notifications"].id
    CALENDAR_PUSH_URL          = local.calendar_push_url
    DRIVE_PUSH_URL             = local.drive_push_url
    MAIL_READ_STATE_WRITE_BACK = tostring(var.mail_read_state_write_back)
  }

  # How the Gmail client paces itself: the sync and the api's attachment download must agree.
  gmail_quota_environment = merge(
    { GMAIL_PRICE_LIST = var.gmail_price_list },
    # Unset rather than empty: an empty string is not a number to the settings parser.
    var.gmail_user_units_per_minute == null ? {} : { GMAIL_USER_UNITS_PER_MINUTE = tostring(var.gmail_user_units_per_minute) },
  )

  renew_watches_timeout_seconds = 540

  # A sync stops after its budget and queues its continuation, well inside the function's timeout; the
  # lease outlives the timeout, so a live sync never loses it, and a crashed one blocks for at most that
  # long. The push subscription's ack deadline (push.tf) is above the timeout.
  sync_worker_timeout_seconds = 540
  sync_time_budget_seconds    = 420
  sync_lease_seconds          = 600

  # The fan-out only lists tenants and publishes one request each.
  daily_purge_timeout_seconds = 120
  # Like a sync: a tenant's purge stops after its budget and queues its continuation, inside the
  # timeout; the push subscription's ack deadline (push.tf) is above the timeout.
  purge_worker_timeout_seconds = 540
  purge_time_budget_seconds    = 420

  # One write is a token refresh and a few Google calls (a send: the Message-ID lookup, attachments of
  # synced copies, the send itself of up to 35 MB, the sent copy), each paced and retried by the client.
  # As for a sync's lease, the claim on a write outlives the function's timeout, so a live worker never
  # loses its claim and a crashed one holds the write for at most that long; the push subscription's
  # ack deadline (push.tf) is above the timeout.
  outbound_worker_timeout_seconds = 180
  write_claim_seconds             = 240

  # Runtime identity per function, for the bindings below, in pubsub.tf and in secrets.tf.
  function_members = {
    api             = module.api.service_account_member
    gmail-push      = module.gmail_push.service_account_member
    calendar-push   = module.calendar_push.service_account_member
    drive-push      = module.drive_push.service_account_member
    oauth-callback  = module.oauth_callback.service_account_member
    renew-watches   = module.renew_watches.service_account_member
    sync-worker     = module.sync_worker.service_account_member
    daily-purge     = module.daily_purge.service_account_member
    purge-worker    = module.purge_worker.service_account_member
    outbound-worker = module.outbound_worker.service_account_member
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

  # The gmail quota settings pace the attachment download (shared/mail/routes.py) and the watch a plan
  # change starts (shared/sync/activation.py).
  environment_variables = merge(local.oauth_environment, local.gmail_quota_environment, {
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
  #checkov:skip=CKV_GCP_124:The CRM backend calls from outside our network; IAM (its service account only) and the CRM JWT are the gate.
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
  #checkov:skip=CKV_GCP_124:A user's browser calls it from the internet; the one-time OAuth state bound to its cookie is the gate.
  #checkov:skip=CKV_GCP_102:allUsers invoker: a browser cannot send a Google ID token; the code authenticates every request.
  ingress_settings        = "ALLOW_ALL"
  public_browser_endpoint = true

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}

module "renew_watches" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "renew-watches"
  description           = "Called daily by Cloud Scheduler: renews Gmail watches, Calendar channels and Drive channels before Google lets them lapse."
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
    CALENDAR_PUSH_URL          = local.calendar_push_url
    DRIVE_PUSH_URL             = local.drive_push_url
    SCHEDULER_AUDIENCES        = local.renew_watches_url
    SCHEDULER_SERVICE_ACCOUNTS = local.scheduler_invoker_email
    # Cloud Run IAM checks Scheduler's token (only scheduler-invoker may invoke) and hands the code
    # the token with its signature removed, so a second check in code ("oidc") would refuse every run.
    SCHEDULER_AUTH = "platform"
    # Safety-net syncs for connections without a recent success (lost pushes), coalesced like pushes.
    SYNC_REQUESTS_TOPIC      = module.topics["sync-requests"].name
    PUSH_COALESCE_SECONDS    = tostring(var.push_coalesce_seconds)
    SAFETY_NET_AFTER_SECONDS = "3600"
    # Two days: a Gmail watch, a Calendar channel and a Drive channel live 7 days and the job runs
    # daily, so a failed renewal has a second day.
    WATCH_RENEW_WITHIN_SECONDS = "172800"
  }

  memory          = "512Mi"
  timeout_seconds = local.renew_watches_timeout_seconds
  # One run a day walks every connection; a second instance would only renew the same channels again.
  max_instances = 1

  # Cloud Scheduler calls from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Cloud Scheduler calls from outside any VPC; IAM (scheduler-invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.scheduler_invoker_email}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.scheduler_invoker, # the invoker binding names it
  ]
}

module "gmail_push" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "gmail-push"
  description           = "Gmail change notifications, pushed by Pub/Sub (gmail-notifications-push); each queues at most one sync."
  entry_point           = "gmail_push"
  source_zip_path       = var.function_source_zips["gmail_push"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT           = var.environment
    GOOGLE_CLOUD_PROJECT  = var.project_id
    SYNC_REQUESTS_TOPIC   = module.topics["sync-requests"].name
    PUSH_COALESCE_SECONDS = tostring(var.push_coalesce_seconds)
    # Cloud Run IAM checks the push token (only gmail-push-invoker may invoke) and strips its signature,
    # so the code must not verify it again. Audience and account stay set for switching to "oidc".
    PUSH_AUTH             = "platform"
    PUSH_AUDIENCES        = local.gmail_push_url
    PUSH_SERVICE_ACCOUNTS = local.push_invoker_emails["gmail-push-invoker"]
  }

  memory = "512Mi"
  # No longer than the subscription's ack deadline: Pub/Sub has redelivered by then anyway, and a
  # push is only a hint (coalesced, and the stored cursor is the truth).
  timeout_seconds = 20
  max_instances   = 10

  # Pub/Sub push comes from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Pub/Sub push comes from outside any VPC; IAM (this function's push invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.push_invoker_emails["gmail-push-invoker"]}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.push_invoker, # the invoker binding names it
  ]
}

# Calendar's push channels (events.watch) POST their notifications, headers only, to this URL. Google
# sends no OIDC token with them, so, unlike gmail-push, Cloud Run cannot be the gate: the function is
# public (allUsers invoker, as oauth-callback) and the code believes a notification only when its
# channel id is one we opened, its resource id is the one Google gave that channel, and its token (random
# per channel, compared in constant time with the stored hash) matches; anything else fetches nothing.
# It holds no Google credentials (it only uses Firestore and queues syncs), so it reads no secret: it
# appears in no secret_readers list (secrets.tf).
module "calendar_push" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "calendar-push"
  description           = "Google Calendar channel notifications (events.watch), POSTed by Google; each checked one queues at most one sync of its calendar."
  entry_point           = "calendar_push"
  source_zip_path       = var.function_source_zips["calendar_push"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT           = var.environment
    GOOGLE_CLOUD_PROJECT  = var.project_id
    SYNC_REQUESTS_TOPIC   = module.topics["sync-requests"].name
    PUSH_COALESCE_SECONDS = tostring(var.push_coalesce_seconds)
  }

  memory = "512Mi"
  # A notification is a hint (coalesced, and the stored sync token is the truth): answer fast, and let
  # a burst wait or be dropped rather than scale out.
  timeout_seconds = 20
  max_instances   = 10

  # Google's Calendar push comes from the internet without a Google ID token, so Cloud Run lets every
  # request in; the code checks each one against its channel (id, resource id, hashed random token).
  #checkov:skip=CKV_GCP_124:Google Calendar posts channel notifications from the internet; the channel id, resource id and per-channel token checked in code are the gate.
  #checkov:skip=CKV_GCP_102:allUsers invoker: Calendar push sends no Google ID token; the code authenticates every request by its channel's token.
  ingress_settings        = "ALLOW_ALL"
  public_browser_endpoint = true

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}

# Drive's changes channels (changes.watch, one per connection that syncs Drive) POST their notifications,
# headers only, to this URL. As for calendar-push, Google sends no OIDC token with them, so Cloud Run
# cannot be the gate: the function is public (allUsers invoker) and the code believes a notification
# only when its channel id is one we opened, its resource id is the one Google gave that channel, and
# its token (random per channel, compared in constant time with the stored hash) matches; anything else
# fetches nothing. It holds no Google credentials (it only uses Firestore and queues syncs), so it reads
# no secret: it appears in no secret_readers list (secrets.tf).
module "drive_push" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "drive-push"
  description           = "Google Drive changes channel notifications (changes.watch), POSTed by Google; each checked one queues at most one sync of the account's Drive changes."
  entry_point           = "drive_push"
  source_zip_path       = var.function_source_zips["drive_push"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT           = var.environment
    GOOGLE_CLOUD_PROJECT  = var.project_id
    SYNC_REQUESTS_TOPIC   = module.topics["sync-requests"].name
    PUSH_COALESCE_SECONDS = tostring(var.push_coalesce_seconds)
  }

  memory = "512Mi"
  # A notification is a hint (coalesced, and the stored page token is the truth): answer fast, and let
  # a burst wait or be dropped rather than scale out.
  timeout_seconds = 20
  max_instances   = 10

  # Google's Drive push comes from the internet without a Google ID token, so Cloud Run lets every
  # request in; the code checks each one against its channel (id, resource id, hashed random token).
  #checkov:skip=CKV_GCP_124:Google Drive posts changes channel notifications from the internet; the channel id, resource id and per-channel token checked in code are the gate.
  #checkov:skip=CKV_GCP_102:allUsers invoker: Drive push sends no Google ID token; the code authenticates every request by its channel's token.
  ingress_settings        = "ALLOW_ALL"
  public_browser_endpoint = true

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}

# sync_worker is deployed with an HTTP trigger, not a Pub/Sub one: the subscription a gen2 Pub/Sub
# trigger creates cannot carry a dead-letter policy, so our own push subscription (sync-requests-push,
# push.tf) posts to this URL. The code's @functions_framework.cloud_event decorator sets the signature
# type (it wins over the HTTP deployment's default), and functions-framework turns the raw push
# envelope into a CloudEvent, so the handler keeps its cloud_event signature.
module "sync_worker" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "sync-worker"
  description           = "Carries out one sync request, pushed by Pub/Sub (sync-requests-push) with retries and a dead-letter topic."
  entry_point           = "sync_worker"
  source_zip_path       = var.function_source_zips["sync_worker"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = merge(local.gmail_quota_environment, {
    ENVIRONMENT              = var.environment
    GOOGLE_CLOUD_PROJECT     = var.project_id
    GOOGLE_OAUTH_CLIENT_ID   = var.google_oauth_client_id
    SYNC_REQUESTS_TOPIC      = module.topics["sync-requests"].name
    SYNC_TIME_BUDGET_SECONDS = tostring(local.sync_time_budget_seconds)
    SYNC_LEASE_SECONDS       = tostring(local.sync_lease_seconds)
    GMAIL_MAX_IN_FLIGHT      = "10"
  })

  memory          = "512Mi"
  timeout_seconds = local.sync_worker_timeout_seconds
  max_instances   = var.sync_worker_max_instances
  # One sync per instance: the Gmail client's transport (httplib2) is not thread-safe.
  concurrency = 1

  # Pub/Sub push comes from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Pub/Sub push comes from outside any VPC; IAM (this function's push invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.push_invoker_emails["sync-worker-invoker"]}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.push_invoker, # the invoker binding names it
  ]
}

module "daily_purge" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "daily-purge"
  description           = "Called nightly by Cloud Scheduler: queues one purge request per tenant on purge-requests."
  entry_point           = "daily_purge"
  source_zip_path       = var.function_source_zips["daily_purge"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT                = var.environment
    GOOGLE_CLOUD_PROJECT       = var.project_id
    PURGE_REQUESTS_TOPIC       = module.topics["purge-requests"].name
    SCHEDULER_AUDIENCES        = local.daily_purge_url
    SCHEDULER_SERVICE_ACCOUNTS = local.scheduler_invoker_email
    # As for renew-watches: Cloud Run IAM checks Scheduler's token and strips its signature.
    SCHEDULER_AUTH = "platform"
  }

  timeout_seconds = local.daily_purge_timeout_seconds
  # One fan-out a night; a rerun the same night reuses the run id, so a second instance adds nothing.
  max_instances = 1

  # Cloud Scheduler calls from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Cloud Scheduler calls from outside any VPC; IAM (scheduler-invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.scheduler_invoker_email}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.scheduler_invoker, # the invoker binding names it
  ]
}

# HTTP-triggered and fed by our own push subscription (purge-requests-push, push.tf), as sync_worker
# is and for the same reason: a dead-letter policy. The code keeps its cloud_event signature.
# It holds no Google credentials and calls no Google API (Firestore only), so it reads no secret:
# it appears in no secret_readers list (secrets.tf) and cannot read the token key.
module "purge_worker" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "purge-worker"
  description           = "Purges one tenant's expired, unattached copies, pushed by Pub/Sub (purge-requests-push) with retries and a dead-letter topic."
  entry_point           = "purge_worker"
  source_zip_path       = var.function_source_zips["purge_worker"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT               = var.environment
    GOOGLE_CLOUD_PROJECT      = var.project_id
    PURGE_REQUESTS_TOPIC      = module.topics["purge-requests"].name
    PURGE_TIME_BUDGET_SECONDS = tostring(local.purge_time_budget_seconds)
  }

  memory          = "512Mi"
  timeout_seconds = local.purge_worker_timeout_seconds
  max_instances   = var.purge_worker_max_instances
  # One tenant's purge per instance, so max_instances caps concurrent purges and their Firestore deletes.
  concurrency = 1

  # Pub/Sub push comes from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Pub/Sub push comes from outside any VPC; IAM (this function's push invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.push_invoker_emails["purge-worker-invoker"]}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.push_invoker, # the invoker binding names it
  ]
}

# HTTP-triggered and fed by our own push subscription (outbound-requests-push, push.tf), as sync_worker
# is and for the same reason: a dead-letter policy. The code keeps its cloud_event signature. It makes
# each queued CRM-to-Google write (today Gmail read state) exactly once, through its record in Firestore;
# it refreshes Google tokens, so it reads both secrets (secrets.tf), and publishes nothing.
module "outbound_worker" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "outbound-worker"
  description           = "Carries out one CRM-to-Google write, pushed by Pub/Sub (outbound-requests-push) with retries and a dead-letter topic."
  entry_point           = "outbound_worker"
  source_zip_path       = var.function_source_zips["outbound_worker"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = merge(local.gmail_quota_environment, {
    ENVIRONMENT             = var.environment
    GOOGLE_CLOUD_PROJECT    = var.project_id
    GOOGLE_OAUTH_CLIENT_ID  = var.google_oauth_client_id
    OUTBOUND_REQUESTS_TOPIC = module.topics["outbound-requests"].name
    # It records its own writes in the sync state (the sync then takes their echo for ours); it
    # publishes nothing.
    SYNC_REQUESTS_TOPIC        = module.topics["sync-requests"].name
    MAIL_READ_STATE_WRITE_BACK = tostring(var.mail_read_state_write_back)
    WRITE_CLAIM_SECONDS        = tostring(local.write_claim_seconds)
  })

  # A send with 25 MB of attachments holds them, their base64 and the composed message at once.
  memory          = "1Gi"
  timeout_seconds = local.outbound_worker_timeout_seconds
  max_instances   = var.outbound_worker_max_instances
  # One write per instance: the Gmail client's transport (httplib2) is not thread-safe.
  concurrency = 1

  # Pub/Sub push comes from outside any VPC, so ingress is open; IAM is the gate.
  #checkov:skip=CKV_GCP_124:Pub/Sub push comes from outside any VPC; IAM (this function's push invoker only) is the gate.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${local.push_invoker_emails["outbound-worker-invoker"]}"]

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.function_builder,
    google_service_account.push_invoker, # the invoker binding names it
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
    condition = alltrue([
      module.oauth_callback.url == local.oauth_callback_url,
      module.renew_watches.url == local.renew_watches_url,
      module.gmail_push.url == local.gmail_push_url,
      module.calendar_push.url == local.calendar_push_url,
      module.drive_push.url == local.drive_push_url,
      module.sync_worker.url == local.sync_worker_url,
      module.daily_purge.url == local.daily_purge_url,
      module.purge_worker.url == local.purge_worker_url,
      module.outbound_worker.url == local.outbound_worker_url,
    ])
    error_message = "Google reports function URLs other than the ones computed in functions.tf: OAUTH_CALLBACK_URL, the OAuth redirect URI, CALENDAR_PUSH_URL, DRIVE_PUSH_URL, a Scheduler target or a push endpoint would be wrong."
  }
}
