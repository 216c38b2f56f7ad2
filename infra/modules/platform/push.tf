# Our own push subscriptions: Pub/Sub POSTs each message to a function with an OIDC token of a
# dedicated invoker account, retries with backoff, and after 10 failed deliveries moves the message to
# a dead-letter topic, where a pull subscription keeps it for inspection and replay (infra/README.md).
# exactly-once delivery exists for pull subscriptions only; the handlers are idempotent instead.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Pub/Sub's own identity in this project: it forwards dead letters and signs the push tokens.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # One invoker per pushed function, each holding roles/run.invoker on that function only. Emails are
  # built, not read, so the functions' invoker lists are known at plan time.
  push_invokers = {
    gmail-push-invoker      = "gmail-push"
    sync-worker-invoker     = "sync-worker"
    purge-worker-invoker    = "purge-worker"
    outbound-worker-invoker = "outbound-worker"
  }
  push_invoker_emails = { for id, _ in local.push_invokers : id => "${id}@${var.project_id}.iam.gserviceaccount.com" }

  push_subscriptions = {
    "gmail-notifications-push" = {
      topic    = "gmail-notifications"
      endpoint = local.gmail_push_url
      invoker  = "gmail-push-invoker"
      # gmail-push answers in well under a second; a notification is a hint, so a day of retention
      # is plenty (the safety net covers anything lost).
      ack_deadline_seconds       = 20
      message_retention_duration = "86400s"
      dead_letter_topic          = "gmail-notifications-dead-letter"
    }
    "sync-requests-push" = {
      topic    = "sync-requests"
      endpoint = local.sync_worker_url
      invoker  = "sync-worker-invoker"
      # Above the function's timeout (540 s), so Pub/Sub never redelivers a sync that is still running.
      # 600 s is Pub/Sub's maximum.
      ack_deadline_seconds       = 600
      message_retention_duration = "604800s"
      dead_letter_topic          = "sync-requests-dead-letter"
    }
    "purge-requests-push" = {
      topic    = "purge-requests"
      endpoint = local.purge_worker_url
      invoker  = "purge-worker-invoker"
      # Above the function's timeout (540 s), as for syncs. Kept 7 days like sync requests; a tenant
      # whose request expired is purged by a later night's run.
      ack_deadline_seconds       = 600
      message_retention_duration = "604800s"
      dead_letter_topic          = "purge-requests-dead-letter"
    }
    "outbound-requests-push" = {
      topic    = "outbound-requests"
      endpoint = local.outbound_worker_url
      invoker  = "outbound-worker-invoker"
      # Above the function's timeout (180 s), as for syncs, and as long as a write's claim (240 s).
      # Kept 7 days like sync requests: the write's record in Firestore stays queued until it is done.
      ack_deadline_seconds       = 240
      message_retention_duration = "604800s"
      dead_letter_topic          = "outbound-requests-dead-letter"
    }
  }
}

resource "google_service_account" "push_invoker" {
  for_each = local.push_invokers

  project      = var.project_id
  account_id   = each.key
  display_name = "Pub/Sub push to ${each.value}"
  description  = "Identity of Pub/Sub's push requests to ${each.value}; holds roles/run.invoker on that function only."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account_iam_member" "pubsub_token_creator" {
  # Pub/Sub mints the push OIDC tokens as its service agent. Projects whose agent dates from before
  # 2021-04-08 need this grant; newer ones get the right through the agent's own role. Bound on the
  # invoker accounts only (not the project), it is harmless where redundant, so it is kept.
  for_each = local.push_invokers

  service_account_id = google_service_account.push_invoker[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "dead_letter_inspect" {
  # Created before the push subscriptions, so no dead letter arrives at a topic nobody subscribes to.
  for_each = local.push_subscriptions

  project = var.project_id
  name    = "${each.value.dead_letter_topic}-inspect"
  topic   = module.topics[each.value.dead_letter_topic].id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  # Acknowledged messages stay for the 7 days too: a replay that pulled with --auto-ack and then failed
  # can seek back and try again.
  retain_acked_messages = true

  expiration_policy {
    ttl = "" # never expire, however long nothing is dead-lettered
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  project = var.project_id
  name    = each.key
  topic   = module.topics[each.value.topic].id
  labels  = local.labels

  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = each.value.message_retention_duration

  push_config {
    push_endpoint = each.value.endpoint

    # Cloud Run IAM checks this token: only the invoker account may call the function.
    oidc_token {
      service_account_email = google_service_account.push_invoker[each.value.invoker].email
      audience              = each.value.endpoint
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic = module.topics[each.value.dead_letter_topic].id
    # With this backoff, 10 attempts take well over the 600 s a crashed sync's lease can block a
    # mailbox, so a busy mailbox alone does not dead-letter a sync request.
    max_delivery_attempts = 10
  }

  expiration_policy {
    ttl = "" # a quiet environment must not lose its subscription after 31 idle days
  }

  # The function, its invoker binding, the token grant and the dead-letter subscription exist before
  # the first delivery, so no message burns attempts on a 403 or 404.
  depends_on = [
    module.gmail_push,
    module.sync_worker,
    module.purge_worker,
    module.outbound_worker,
    google_service_account_iam_member.pubsub_token_creator,
    google_pubsub_subscription.dead_letter_inspect,
  ]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_forwarder" {
  # To dead-letter a message Pub/Sub acknowledges it on the source subscription as its service agent;
  # publishing to the dead-letter topic is granted in pubsub.tf.
  for_each = local.push_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
