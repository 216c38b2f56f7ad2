# One Pub/Sub topic and who may publish to it. Subscriptions (push to a worker, retry policy, dead-letter
# topic) belong to their consumer and come with the workers.

resource "google_pubsub_topic" "this" {
  # Google-managed encryption keys: there is no Cloud KMS key to manage in this stack, and messages
  # carry ids, a mailbox address and Gmail history ids, never mail content. A topic that comes to carry
  # content (outbound-requests, once the outbound worker exists) is the time to add kms_key_name here.
  #checkov:skip=CKV_GCP_83:Google-managed keys: no Cloud KMS in this stack; messages carry ids and addresses, not mail content.
  project                    = var.project
  name                       = var.name
  message_retention_duration = var.message_retention_duration
  labels                     = merge(var.labels, { managed-by = "terraform" })
}

resource "google_pubsub_topic_iam_member" "publisher" {
  # Bound on the topic, not the project: a publisher can reach this topic and no other.
  for_each = toset(var.publishers)

  project = var.project
  topic   = google_pubsub_topic.this.name
  role    = "roles/pubsub.publisher"
  member  = each.value
}
