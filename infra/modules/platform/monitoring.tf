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

# Purge errors: a tenant's purge refused (its plan unknown or missing, so nothing was deleted) or
# reporting errors, or a purge request that failed (retried or dropped). A crash shows as a 500 and,
# after 10 attempts, in the dead-letter alert above.
locals {
  purge_errors_filter = join(" AND ", [
    "resource.type = \"cloud_run_revision\"",
    "resource.labels.service_name = \"purge-worker\"",
    # errors is a list: the regex matches only when some element is non-empty.
    "((jsonPayload.message = \"purge report\" AND (jsonPayload.status = \"refused\" OR jsonPayload.errors =~ \".\")) OR jsonPayload.message = \"event failed\")",
  ])
}

resource "google_logging_metric" "purge_errors" {
  project     = var.project_id
  name        = "purge-errors"
  description = "purge-worker log entries of a refused purge, a purge report with errors, or a failed purge request."
  filter      = local.purge_errors_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "Purge errors"

    labels {
      key         = "message"
      value_type  = "STRING"
      description = "\"purge report\" (refused or with errors) or \"event failed\"."
    }
  }

  label_extractors = {
    message = "EXTRACT(jsonPayload.message)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "purge_errors" {
  project               = var.project_id
  display_name          = "Purge errors (${var.environment})"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "purge-worker logged a refused or failed purge"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.purge_errors.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "purge-worker logged a refused purge (a tenant with no known plan: nothing deleted), a purge report with errors, or a failed purge request. See infra/README.md, \"Nightly purge\": read the \"purge report\" and \"event failed\" entries of purge-worker, and the tenant's report in tenants/{tenant}/purge_reports/{run}."
  }
}
