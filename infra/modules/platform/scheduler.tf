# Cloud Scheduler: its own identity, which may invoke the scheduled functions and nothing else, and
# the jobs. Scheduler signs an OIDC token as that account for the function's URL on every call.

locals {
  # Built, not read, so it is known at plan time (renew-watches' invoker list is a for_each).
  scheduler_invoker_email = "scheduler-invoker@${var.project_id}.iam.gserviceaccount.com"
}

resource "google_service_account" "scheduler_invoker" {
  project      = var.project_id
  account_id   = "scheduler-invoker"
  display_name = "Cloud Scheduler invoker"
  description  = "Identity of the Cloud Scheduler jobs; holds roles/run.invoker on the scheduled functions only."

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_scheduler_job" "renew_gmail_watches" {
  project     = var.project_id
  region      = var.region
  name        = "renew-gmail-watches"
  description = "Renews Gmail watches daily; a watch lapses 7 days after the last renewal."
  schedule    = "17 3 * * *"
  time_zone   = var.scheduler_time_zone

  # A little longer than the function's timeout, so a slow run ends with the function's own answer
  # rather than Scheduler giving up on a run that is still renewing.
  attempt_deadline = "${local.renew_watches_timeout_seconds + 60}s"

  retry_config {
    # Renewing a watch twice is harmless, so a failed run is simply retried, hours before any lapse.
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "900s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = local.renew_watches_url

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = local.renew_watches_url
    }
  }

  # The function and scheduler-invoker's right to call it exist before the first run.
  depends_on = [module.renew_watches]
}

resource "google_cloud_scheduler_job" "nightly_purge" {
  project     = var.project_id
  region      = var.region
  name        = "nightly-purge"
  description = "Nightly purge: daily-purge queues one purge request per tenant on purge-requests."
  schedule    = "30 2 * * *"
  time_zone   = var.scheduler_time_zone

  # Past the function's timeout, as for renew-gmail-watches.
  attempt_deadline = "${local.daily_purge_timeout_seconds + 60}s"

  retry_config {
    # A rerun the same night reuses the run id (and so the tenants' reports), so a retry is harmless.
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "900s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = local.daily_purge_url

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = local.daily_purge_url
    }
  }

  # The function and scheduler-invoker's right to call it exist before the first run.
  depends_on = [module.daily_purge]
}
