# Topics and their publishers. Each publisher is bound on the topic it needs, never on the project.
# Push subscriptions, their dead-letter topics' subscriptions and the Pub/Sub service agent: push.tf.

locals {
  # Gmail's users.watch publishes as this Google-owned account; without the grant, watch() fails.
  gmail_push_publisher = "serviceAccount:gmail-api-push@system.gserviceaccount.com"

  topic_publishers = {
    # api and oauth-callback queue syncs; gmail-push on a Gmail notification; calendar-push and
    # drive-push on a Calendar or Drive channel's notification; renew-watches as a safety net;
    # sync-worker its own continuations.
    "sync-requests" = [
      module.api.service_account_member,
      module.oauth_callback.service_account_member,
      module.gmail_push.service_account_member,
      module.calendar_push.service_account_member,
      module.drive_push.service_account_member,
      module.renew_watches.service_account_member,
      module.sync_worker.service_account_member,
    ]
    # api queues the CRM's writes (outbound-worker carries them out and publishes nothing).
    "outbound-requests" = [module.api.service_account_member]
    # daily-purge fans out one request per tenant; purge-worker queues its own continuations.
    "purge-requests" = [
      module.api.service_account_member,
      module.daily_purge.service_account_member,
      module.purge_worker.service_account_member,
    ]
    "gmail-notifications" = [local.gmail_push_publisher]
    # Pub/Sub itself forwards undeliverable messages here, as its service agent.
    "gmail-notifications-dead-letter" = [local.pubsub_service_agent]
    "sync-requests-dead-letter"       = [local.pubsub_service_agent]
    "purge-requests-dead-letter"      = [local.pubsub_service_agent]
    "outbound-requests-dead-letter"   = [local.pubsub_service_agent]
  }
}

module "topics" {
  source   = "../pubsub_topic"
  for_each = local.topic_publishers

  project    = var.project_id
  name       = each.key
  publishers = each.value
  labels     = local.labels

  depends_on = [google_project_service.enabled]
}
