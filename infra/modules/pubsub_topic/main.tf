# One Pub/Sub topic and who may publish to it. Subscriptions (push to a worker, retry policy, dead-letter
# topic) belong to their consumer and come with the workers.

resource "google_pubsub_topic" "this" {
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
