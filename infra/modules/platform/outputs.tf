output "function_urls" {
  description = "HTTPS URL per function name."
  value = {
    api = module.api.uri
  }
}

output "topic_ids" {
  description = "Full topic id per topic name."
  value       = { for name, topic in module.topics : name => topic.id }
}

output "service_account_emails" {
  description = "Service account per function (runtime identity), plus the function builder."
  value = {
    api              = module.api.service_account_email
    function-builder = google_service_account.function_builder.email
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
    api = module.api.source_object
  }
}

output "firestore_database" {
  description = "Firestore database id."
  value       = google_firestore_database.default.name
}
