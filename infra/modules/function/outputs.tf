output "name" {
  description = "Function name (also its Cloud Run service name)."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "HTTPS URL of the function; callers need roles/run.invoker and an ID token for this audience."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "url" {
  description = "The function's cloudfunctions.net URL (https://<region>-<project>.cloudfunctions.net/<name>), as Google reports it."
  value       = google_cloudfunctions2_function.this.url
}

output "service_account_email" {
  description = "Runtime service account of the function. Known at plan time; bind roles on the narrowest resource."
  value       = local.service_account_email
  # The value is computed, not read, so wait for the account to exist before anyone binds a role to it.
  depends_on = [google_service_account.runtime]
}

output "service_account_member" {
  description = "The runtime service account as an IAM member (serviceAccount:...)."
  value       = "serviceAccount:${local.service_account_email}"
  depends_on  = [google_service_account.runtime]
}

output "source_object" {
  description = "Bucket object (functions/<name>/<sha256>.zip) the function was built from."
  value       = google_storage_bucket_object.source.name
}
