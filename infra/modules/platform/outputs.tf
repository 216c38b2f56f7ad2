output "function_urls" {
  description = "HTTPS URL per function name. api: its run.app URL (the CRM's ID token audience); the others: their cloudfunctions.net URL, which the OAuth client, the Scheduler jobs, the push subscriptions and Calendar's and Drive's push channels (CALENDAR_PUSH_URL, DRIVE_PUSH_URL) use."
  value = {
    api             = module.api.uri
    gmail-push      = local.gmail_push_url
    calendar-push   = local.calendar_push_url
    drive-push      = local.drive_push_url
    oauth-callback  = local.oauth_callback_url
    renew-watches   = local.renew_watches_url
    sync-worker     = local.sync_worker_url
    daily-purge     = local.daily_purge_url
    purge-worker    = local.purge_worker_url
    outbound-worker = local.outbound_worker_url
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
  description = "Service account per function (runtime identity), plus the function builder, the Cloud Scheduler invoker and the Pub/Sub push invokers."
  value = merge(
    {
      api               = module.api.service_account_email
      gmail-push        = module.gmail_push.service_account_email
      calendar-push     = module.calendar_push.service_account_email
      drive-push        = module.drive_push.service_account_email
      oauth-callback    = module.oauth_callback.service_account_email
      renew-watches     = module.renew_watches.service_account_email
      sync-worker       = module.sync_worker.service_account_email
      daily-purge       = module.daily_purge.service_account_email
      purge-worker      = module.purge_worker.service_account_email
      outbound-worker   = module.outbound_worker.service_account_email
      function-builder  = google_service_account.function_builder.email
      scheduler-invoker = google_service_account.scheduler_invoker.email
    },
    { for id, account in google_service_account.push_invoker : id => account.email },
  )
}

output "push_subscriptions" {
  description = "Push subscription id per name (gmail-notifications-push, sync-requests-push, purge-requests-push, outbound-requests-push)."
  value       = { for name, subscription in google_pubsub_subscription.push : name => subscription.id }
}

output "dead_letters" {
  description = "Per push subscription: its dead-letter topic, the pull subscription to inspect it, and the topic to republish replays to (infra/README.md, \"Dead letters\")."
  value = {
    for name, settings in local.push_subscriptions : name => {
      dead_letter_topic       = module.topics[settings.dead_letter_topic].id
      inspection_subscription = google_pubsub_subscription.dead_letter_inspect[name].name
      replay_topic            = module.topics[settings.topic].name
    }
  }
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job id per job name; run one now with gcloud scheduler jobs run."
  value       = { for name, job in google_cloud_scheduler_job.daily : name => job.id }
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
    api             = module.api.source_object
    gmail-push      = module.gmail_push.source_object
    calendar-push   = module.calendar_push.source_object
    drive-push      = module.drive_push.source_object
    oauth-callback  = module.oauth_callback.source_object
    renew-watches   = module.renew_watches.source_object
    sync-worker     = module.sync_worker.source_object
    daily-purge     = module.daily_purge.source_object
    purge-worker    = module.purge_worker.source_object
    outbound-worker = module.outbound_worker.source_object
  }
}

output "firestore_database" {
  description = "Firestore database id."
  value       = google_firestore_database.default.name
}

output "monitoring" {
  description = "The operations dashboard, the alert policies (ids) and the log-based metrics the alerts count (infra/README.md, \"Alerts and the dashboard\")."
  value = {
    dashboard = google_monitoring_dashboard.operations.id
    alert_policies = merge(
      { for name, policy in google_monitoring_alert_policy.dead_letters : "dead-letters-${name}" => policy.name },
      { for name, policy in google_monitoring_alert_policy.log_based : name => policy.name },
    )
    log_metrics = [for metric in google_logging_metric.this : metric.name]
  }
}
