output "function_urls" {
  description = "HTTPS URL per function name. api: its run.app URL (the CRM's ID token audience); the others: their cloudfunctions.net URL, which the OAuth client and the Scheduler job use."
  value = {
    api            = module.api.uri
    oauth-callback = local.oauth_callback_url
    renew-watches  = local.renew_watches_url
  }
}

output "oauth_redirect_uri" {
  description = "Register exactly this as an authorized redirect URI of the OAuth client (infra/README.md)."
  value       = local.oauth_redirect_uri
}

output "topic_ids" {
  description = "Full topic id per topic name."
  value       = { for name, topic in module.topics : name => topic.id }
}

output "service_account_emails" {
  description = "Service account per function (runtime identity), plus the function builder and the Cloud Scheduler invoker."
  value = {
    api               = module.api.service_account_email
    oauth-callback    = module.oauth_callback.service_account_email
    renew-watches     = module.renew_watches.service_account_email
    function-builder  = google_service_account.function_builder.email
    scheduler-invoker = google_service_account.scheduler_invoker.email
  }
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job id per job name; run one now with gcloud scheduler jobs run."
  value = {
    renew-gmail-watches = google_cloud_scheduler_job.renew_gmail_watches.id
  }
}

output "secret_ids" {
  description = "Secret Manager secret per name. Add values with gcloud secrets versions add (infra/README.md)."
  value       = { for name, secret in google_secret_manager_secret.this : name => secret.id }
}

output "source_bucket" {
  description = "Bucket that holds the function source zips, one object per content hash."
  value       = google_storage_bucket.function_sources.name
}

output "function_source_objects" {
  description = "Source object each function was built from (functions/<name>/<sha256>.zip)."
  value = {
    api            = module.api.source_object
    oauth-callback = module.oauth_callback.source_object
    renew-watches  = module.renew_watches.source_object
  }
}

output "firestore_database" {
  description = "Firestore database id."
  value       = google_firestore_database.default.name
}
