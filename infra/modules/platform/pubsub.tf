# Topics and their publishers. Each publisher is bound on the topic it needs, never on the project.
# Workers' push subscriptions (retry policy, dead-letter topic) arrive with the workers.

locals {
  # Gmail's users.watch publishes as this Google-owned account; without the grant, watch() fails.
  gmail_push_publisher = "serviceAccount:gmail-api-push@system.gserviceaccount.com"

  topic_publishers = {
    "sync-requests"       = [module.api.service_account_member, module.oauth_callback.service_account_member]
    "outbound-requests"   = [module.api.service_account_member]
    "purge-requests"      = [module.api.service_account_member]
    "gmail-notifications" = [local.gmail_push_publisher]
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
