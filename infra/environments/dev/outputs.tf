output "function_urls" {
  description = "HTTPS URL per function; give the api URL to the CRM backend (it is also the ID token audience)."
  value       = module.platform.function_urls
}

output "oauth_redirect_uri" {
  description = "Authorized redirect URI to register on the OAuth client (infra/README.md)."
  value       = module.platform.oauth_redirect_uri
}

output "topic_ids" {
  description = "Full Pub/Sub topic id per topic name."
  value       = module.platform.topic_ids
}

output "service_account_emails" {
  description = "Runtime service account per function, plus the function builder, the Cloud Scheduler invoker and the Pub/Sub push invokers."
  value       = module.platform.service_account_emails
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job per name; gcloud scheduler jobs run <name> --location=<region> runs one now."
  value       = module.platform.scheduler_jobs
}

output "secret_ids" {
  description = "Secret containers to fill with gcloud secrets versions add."
  value       = module.platform.secret_ids
}

output "source_bucket" {
  description = "Bucket of the function source zips."
  value       = module.platform.source_bucket
}

output "function_source_objects" {
  description = "Source object each function runs from; note it before a deploy to know what to roll back to."
  value       = module.platform.function_source_objects
}

output "push_subscriptions" {
  description = "Push subscription id per name."
  value       = module.platform.push_subscriptions
}

output "dead_letters" {
  description = "Per push subscription: dead-letter topic, inspection subscription and replay topic (infra/README.md, \"Dead letters\")."
  value       = module.platform.dead_letters
}

output "monitoring" {
  description = "The operations dashboard, the alert policies and the log-based metrics behind them."
  value       = module.platform.monitoring
}
