# One alert per dead-letter subscription: it fires while the subscription holds any unacknowledged
# message and clears once ops have drained it (infra/README.md, "Dead letters").

resource "google_monitoring_alert_policy" "dead_letters" {
  for_each = google_pubsub_subscription.dead_letter_inspect

  project               = var.project_id
  display_name          = "Dead letters in ${each.value.name} (${var.environment})"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "${each.value.name} holds undelivered messages"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${each.value.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Pub/Sub gave up on messages of ${each.key} after 10 failed deliveries and moved them to ${each.value.name}. See infra/README.md, \"Dead letters\": find the cause in the receiving function's logs, fix it, then replay or discard."
  }
}
