# One Cloud Functions (gen2) function: its own runtime identity, its source object named by content
# hash, the function itself, and who may invoke it. Nothing here grants the function access to data;
# the caller binds roles on the narrowest resource (a topic, a secret) using the service account output.

locals {
  account_id = "fn-${var.name}"
  # Built from the account id rather than read from the resource, so it is known at plan time and
  # callers can use it as a for_each key or in IAM bindings created in the same apply.
  service_account_email = "${local.account_id}@${var.project}.iam.gserviceaccount.com"

  labels = merge(var.labels, {
    function   = var.name
    managed-by = "terraform"
  })
}

resource "google_service_account" "runtime" {
  project      = var.project
  account_id   = local.account_id
  display_name = "Cloud Function ${var.name}"
  description  = "Runtime identity of the ${var.name} function; holds only the roles this function needs."
}

resource "google_storage_bucket_object" "source" {
  # The name is the zip's SHA-256: a code change gives a new object and so a new build and revision,
  # while an unchanged zip changes nothing. Old objects stay as noncurrent versions (bucket
  # versioning) for the rollback window.
  name         = "functions/${var.name}/${filesha256(var.source_zip_path)}.zip"
  bucket       = var.bucket
  source       = var.source_zip_path
  content_type = "application/zip"

  lifecycle {
    # Upload the new zip before the old one is deleted, so a failed deploy leaves the old source in place.
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "secret_environment" {
  # A function that mounts a secret as an environment variable cannot start without read access to it.
  for_each = { for s in var.secret_environment_variables : s.key => s }

  project   = var.project
  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project
  location    = var.region
  name        = var.name
  description = var.description
  labels      = local.labels

  build_config {
    runtime         = "python312"
    entry_point     = var.entry_point
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket_object.source.bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.runtime.email
    environment_variables            = var.environment_variables
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    available_memory                 = var.memory
    available_cpu                    = var.cpu
    max_instance_request_concurrency = var.concurrency
    timeout_seconds                  = var.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true

    dynamic "secret_environment_variables" {
      for_each = var.secret_environment_variables
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.secret_environment]

  lifecycle {
    precondition {
      condition     = var.min_instances <= var.max_instances
      error_message = "The min_instances of ${var.name} must not exceed its max_instances."
    }
    precondition {
      # Python serves concurrent requests on threads; below one vCPU Cloud Run refuses concurrency > 1.
      condition     = var.concurrency == 1 || try(tonumber(var.cpu) >= 1, false)
      error_message = "The function ${var.name} needs cpu of at least \"1\" to set concurrency above 1."
    }
    precondition {
      # A public endpoint has no IAM gate to add callers to, and must be reachable from the internet.
      condition     = !var.public_browser_endpoint || (length(var.invokers) == 0 && var.ingress_settings != "ALLOW_INTERNAL_ONLY")
      error_message = "The function ${var.name} is a public_browser_endpoint: leave invokers empty and choose an ingress a browser can reach (ALLOW_ALL or ALLOW_INTERNAL_AND_GCLB)."
    }
  }
}

resource "google_cloud_run_service_iam_member" "invoker" {
  # gen2 functions are Cloud Run services; calling one over HTTP needs roles/run.invoker on the
  # service. The name validation keeps the service name equal to the function name.
  for_each = toset(var.invokers)

  project  = var.project
  location = google_cloudfunctions2_function.this.location
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_service_iam_member" "public" {
  # Only with public_browser_endpoint: a browser (or a webhook such as Calendar or Drive push) cannot present an
  # ID token, so Cloud Run lets every request through and the function's code is the only gate.
  count = var.public_browser_endpoint ? 1 : 0

  project  = var.project
  location = google_cloudfunctions2_function.this.location
  service  = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
