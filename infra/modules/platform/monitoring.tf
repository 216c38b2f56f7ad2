# What ops are told about (infra/README.md, "Alerts and the dashboard"): dead letters arriving, push
# channel renewals failing, purge errors, a burst of connections needing reconnect. Each alert's
# documentation names its runbook section. The log-based metrics count entries the code writes
# (shared/structured_logging: jsonPayload.message plus the entry's fields) or that Cloud Scheduler
# writes; tests/infra/test_monitoring.py checks each counted message against the code. The dashboard
# (dashboard.json.tftpl) plots them beside Cloud Run's and Pub/Sub's own metrics.

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

# Log-based metrics: counters (DELTA, INT64) of matching entries, with a label where it helps.
locals {
  log_metrics = {
    # A tenant's purge refused (its plan unknown or missing, so nothing was deleted) or reporting
    # errors, or a purge request that failed (retried or dropped). A crash shows as a 500 and, after
    # 10 attempts, in the dead-letter alert.
    "purge-errors" = {
      display_name = "Purge errors"
      description  = "purge-worker log entries of a refused purge, a purge report with errors, or a failed purge request."
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${module.purge_worker.name}\"",
        # errors is a list: the regex matches only when some element is non-empty.
        "((jsonPayload.message = \"purge report\" AND (jsonPayload.status = \"refused\" OR jsonPayload.errors =~ \".\")) OR jsonPayload.message = \"event failed\")",
      ])
      labels = [{ key = "message", field = "jsonPayload.message", description = "\"purge report\" (refused or with errors) or \"event failed\"." }]
    }
    # Cloud Scheduler logs every attempt of a job; a failed one (the function answered non-2xx, timed
    # out or could not be reached, e.g. a missing invoker binding) at severity ERROR. Both jobs share
    # the metric; the alerts tell them apart by the job_id resource label.
    "scheduler-job-failures" = {
      display_name = "Scheduler job failures"
      description  = "Failed Cloud Scheduler attempts (renew-gmail-watches, nightly-purge); a run is retried 3 times."
      filter       = "resource.type = \"cloud_scheduler_job\" AND severity >= ERROR"
      labels       = []
    }
    # renew-watches' daily round logs "push channel not started" (fields tenant_id, source, code) for
    # each push channel (a Gmail watch, a Calendar channel, a Drive channel) Google refused to start or
    # renew (after the client's own retries), and answers 5xx ("request handled", status >= 500) when a
    # whole run fails. A revoked grant is not a failure: it counts under reconnects. Only renew-watches
    # is counted: a channel a connect or plan change could not start is started by the next round.
    "watch-renewal-failures" = {
      display_name = "Push channel renewal failures"
      description  = "renew-watches entries of a push channel (Gmail watch, Calendar channel, Drive channel) not started or renewed, or of a run that failed."
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${module.renew_watches.name}\"",
        "(jsonPayload.message = \"push channel not started\" OR (jsonPayload.message = \"request handled\" AND jsonPayload.status >= 500))",
      ])
      labels = [
        { key = "message", field = "jsonPayload.message", description = "\"push channel not started\" (one channel) or \"request handled\" (the whole run failed)." },
        { key = "source", field = "jsonPayload.source", description = "The channel's source (gmail, calendar, drive); empty for a failed run." },
      ]
    }
    # Logged wherever Google refuses a grant (invalid_grant: the user revoked access, changed their
    # password, or an admin removed the app): sync-worker, renew-watches or api.
    "connections-needing-reconnect" = {
      display_name = "Connections needing reconnect"
      description  = "Connections turned to needs_reconnect because Google refused their grant, by reason."
      filter       = "resource.type = \"cloud_run_revision\" AND jsonPayload.message = \"connection needs reconnect\""
      labels       = [{ key = "reason", field = "jsonPayload.reason", description = "Why the connection needs a reconnect, e.g. invalid_grant." }]
    }
    # For the dashboard only: syncs finished per source and mode, the system's heartbeat. sync-worker
    # logs "sync done" with source (gmail, calendar, drive) and mode; a request it skips at a
    # gate logs "sync skipped" instead and is not counted.
    "syncs" = {
      display_name = "Syncs"
      description  = "Syncs finished by sync-worker, by source and mode."
      filter       = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${module.sync_worker.name}\" AND jsonPayload.message = \"sync done\""
      labels = [
        { key = "source", field = "jsonPayload.source", description = "gmail, calendar, drive." },
        { key = "mode", field = "jsonPayload.mode", description = "full, partial, resync, or skipped (its lease was lost)." },
      ]
    }
  }
}

resource "google_logging_metric" "this" {
  for_each = local.log_metrics

  project     = var.project_id
  name        = each.key
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = each.value.display_name

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.value.key
        value_type  = "STRING"
        description = labels.value.description
      }
    }
  }

  label_extractors = {
    for label in each.value.labels : label.key => "EXTRACT(${label.field})"
  }

  depends_on = [google_project_service.enabled]
}

# Alerts on the log-based metrics: each fires when a condition's count over its window exceeds its
# threshold, and clears when a window passes without.
locals {
  # A condition over a whole run of a daily job: the window holds every Scheduler retry of one run
  # (attempt deadlines plus backoff, well under an hour) and ends a quarter of a day later, so the
  # next run starts from a clear alert. A run failed when all its attempts did (retries + 1).
  scheduler_run_failed = {
    for name, job in google_cloud_scheduler_job.daily : name => {
      display_name = "Every attempt of a ${job.name} run failed"
      filter       = "resource.type = \"cloud_scheduler_job\" AND resource.labels.job_id = \"${job.name}\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.this["scheduler-job-failures"].name}\""
      threshold    = job.retry_config[0].retry_count
      window       = "21600s"
    }
  }

  log_alerts = {
    "purge-errors" = {
      display_name = "Purge errors"
      conditions = [
        {
          display_name = "purge-worker logged a refused or failed purge"
          filter       = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.this["purge-errors"].name}\""
          threshold    = 0
          window       = "300s"
        },
        local.scheduler_run_failed["nightly-purge"],
      ]
      documentation = "purge-worker logged a refused purge (a tenant with no known plan: nothing deleted), a purge report with errors, or a failed purge request; or Cloud Scheduler could not run daily-purge at all tonight (every attempt failed: nothing was queued). See infra/README.md, \"Nightly purge\": read the \"purge report\" and \"event failed\" entries of purge-worker, and the tenant's report in tenants/{tenant}/purge_reports/{run}."
    }
    "watch-renewals-failing" = {
      display_name = "Push channel renewals failing"
      conditions = [
        {
          display_name = "renew-watches could not start or renew a push channel, or its run failed"
          filter       = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.this["watch-renewal-failures"].name}\""
          threshold    = 0
          window       = "21600s"
        },
        local.scheduler_run_failed["renew-gmail-watches"],
      ]
      documentation = "Google stops pushing changes when a push channel ends (a Gmail watch 7 days after it was last renewed, a Calendar or Drive channel at the expiry it was opened with, 7 days). renew-watches renews channels within 2 days of their end, so a channel that fails today is retried tomorrow before it lapses; two failed days in a row and that source syncs only through the daily safety net. See infra/README.md, \"Push channel renewals failing\": read renew-watches' \"push channel not started\" entries (source and code say which and why) and the run's report."
    }
    # One user revoking access is normal (the CRM shows them a reconnect prompt); many at once mean
    # something on our side (the OAuth client or its secret, the consent screen's publishing status)
    # or a Workspace admin's policy.
    "reconnect-burst" = {
      display_name = "Burst of connections needing reconnect"
      conditions = [
        {
          display_name = "More than ${var.reconnect_alert_threshold} connections needed a reconnect within an hour"
          filter       = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.this["connections-needing-reconnect"].name}\""
          threshold    = var.reconnect_alert_threshold
          window       = "3600s"
        },
      ]
      documentation = "More connections than usual lost their Google grant within an hour. Their synced copies that are attached to no record were purged and their users see a reconnect prompt; nothing syncs for them until they consent again. See infra/README.md, \"Burst of connections needing reconnect\": check the OAuth client and its secret, the consent screen's publishing status, and whether the reconnects share a Workspace domain."
    }
  }
}

resource "google_monitoring_alert_policy" "log_based" {
  for_each = local.log_alerts

  project               = var.project_id
  display_name          = "${each.value.display_name} (${var.environment})"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.display_name

      condition_threshold {
        filter          = conditions.value.filter
        comparison      = "COMPARISON_GT"
        threshold_value = conditions.value.threshold
        duration        = "0s"

        aggregations {
          alignment_period     = conditions.value.window
          per_series_aligner   = "ALIGN_SUM"
          cross_series_reducer = "REDUCE_SUM"
        }

        trigger {
          count = 1
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.documentation
  }
}

# --- Dashboard --------------------------------------------------------------------------------------

resource "google_monitoring_dashboard" "operations" {
  project = var.project_id
  # The template holds only ${...} placeholders for names (no Terraform expressions), so the test
  # tests/infra/test_monitoring.py can render it and check every metric, function and subscription it
  # names against what this module declares.
  dashboard_json = templatefile("${path.module}/dashboard.json.tftpl", {
    environment                     = var.environment
    functions_regex                 = join("|", sort(keys(local.function_members)))
    push_subscriptions_regex        = join("|", sort(keys(local.push_subscriptions)))
    dead_letter_subscriptions_regex = join("|", sort([for s in google_pubsub_subscription.dead_letter_inspect : s.name]))
    syncs_metric                    = google_logging_metric.this["syncs"].name
    watch_renewal_failures_metric   = google_logging_metric.this["watch-renewal-failures"].name
    reconnect_metric                = google_logging_metric.this["connections-needing-reconnect"].name
    purge_errors_metric             = google_logging_metric.this["purge-errors"].name
    scheduler_failures_metric       = google_logging_metric.this["scheduler-job-failures"].name
  })

  depends_on = [google_project_service.enabled]
}
