# Everything one environment needs, so dev and prod differ only in the variables their roots pass.
# Files: main.tf (APIs, Firestore database, source bucket, build identity), firestore.tf (indexes),
# pubsub.tf (topics), push.tf (push subscriptions, dead letters), secrets.tf, functions.tf,
# scheduler.tf, monitoring.tf (alerts, the purge errors log metric).

locals {
  labels = merge(var.labels, {
    app         = "crm-google-integration"
    environment = var.environment
  })

  services = toset([
    "artifactregistry.googleapis.com", # images built from the function sources
    "calendar-json.googleapis.com",    # Calendar sync, writes and push channels (events.watch)
    "cloudbuild.googleapis.com",       # builds the function sources
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "drive.googleapis.com", # the api's Drive calls, Drive sync and push channels (changes.watch)
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "gmail.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com", # gen2 functions run as Cloud Run services
    "secretmanager.googleapis.com",
    "storage.googleapis.com", # the function source bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services

  project = var.project_id
  service = each.value
  # Removing an API from this list must not switch it off under running workloads or other tools.
  disable_on_destroy = false
}

resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # terraform destroy only forgets the database; deleting customer data is never a side effect.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket" "function_sources" {
  # Only the deployer writes here and Cloud Build reads. Cloud Audit Logs record admin activity on it
  # (always) and object reads and writes (where Data Access logs for Cloud Storage are switched on).
  #checkov:skip=CKV_GCP_62:Usage logs would need a second bucket; Cloud Audit Logs cover this deploy-only bucket.
  project  = var.project_id
  name     = "${var.project_id}-function-sources"
  location = var.region
  labels   = local.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Objects are named by content hash and replaced on every code change; versioning keeps the
  # replaced zips as noncurrent versions, which is what a rollback redeploys.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.source_noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Build runs function builds as this account, not as the Compute Engine default account: new
# projects no longer grant that one build rights, and it would be shared with anything else on the project.
resource "google_service_account" "function_builder" {
  project      = var.project_id
  account_id   = "function-builder"
  display_name = "Cloud Functions builder"
  description  = "Builds the function sources into images (Cloud Build). No access to data."

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "function_builder" {
  # Google's documented role for a custom function build account: read the source, write the image to
  # Artifact Registry, write build logs. It exists only at project level.
  project = var.project_id
  role    = "roles/run.builder"
  member  = google_service_account.function_builder.member
}
