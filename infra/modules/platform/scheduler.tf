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

locals {
  # One entry per daily job. Each run is retried 3 times with backoff, which is harmless for both:
  # a rerun of renew-watches finds its channels already renewed, and a purge rerun the same night reuses
  # the run id (and so the tenants' reports). The attempt deadline is a little longer than the function's timeout, so a
  # slow run ends with the function's own answer rather than Scheduler giving up on it.
  daily_jobs = {
    renew-gmail-watches = {
      description     = "Renews Gmail watches, Calendar channels and Drive channels daily; each lapses 7 days after it was last renewed or opened."
      schedule        = "17 3 * * *"
      uri             = local.renew_watches_url
      timeout_seconds = local.renew_watches_timeout_seconds
    }
    nightly-purge = {
      description     = "Nightly purge: daily-purge queues one purge request per tenant on purge-requests."
      schedule        = "30 2 * * *"
      uri             = local.daily_purge_url
      timeout_seconds = local.daily_purge_timeout_seconds
    }
  }
}

resource "google_cloud_scheduler_job" "daily" {
  for_each = local.daily_jobs

  project     = var.project_id
  region      = var.region
  name        = each.key
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = var.scheduler_time_zone

  attempt_deadline = "${each.value.timeout_seconds + 60}s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "900s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = each.value.uri

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = each.value.uri
    }
  }

  # The functions and scheduler-invoker's right to call them exist before the first run.
  depends_on = [module.renew_watches, module.daily_purge]
}
