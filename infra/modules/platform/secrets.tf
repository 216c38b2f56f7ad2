# Secret containers only. Values are added by hand with `gcloud secrets versions add` (infra/README.md),
# so no secret value ever sits in Terraform code, plans or state.

locals {
  secrets = {
    "oauth-client-secret"  = "Client secret of the Google OAuth client used for the consent flow and token refresh."
    "token-encryption-key" = "AES-256-GCM key that encrypts users' refresh tokens at rest."
  }

  # Which function reads which secret at run time (through the Secret Manager API). The accessor role
  # is bound on each secret, so a function can read exactly the secrets listed for it. Keys of
  # local.function_members: api (disconnect opens the token and revokes the grant), oauth-callback
  # (exchanges the code, seals the token), renew-watches, sync-worker and outbound-worker (open,
  # refresh and reseal tokens). gmail-push, calendar-push and drive-push read neither: they only check a
  # notification against Firestore and queue syncs, never calling Google. Nor do daily-purge and purge-worker: they
  # hold no Google credentials and only touch Firestore, so the purge cannot read the token key.
  secret_readers = {
    "oauth-client-secret"  = ["api", "oauth-callback", "renew-watches", "sync-worker", "outbound-worker"]
    "token-encryption-key" = ["api", "oauth-callback", "renew-watches", "sync-worker", "outbound-worker"]
  }

  secret_reader_bindings = merge([
    for secret, readers in local.secret_readers : {
      for function in readers : "${secret}/${function}" => {
        secret = secret
        member = local.function_members[function]
      }
    }
  ]...)
}

resource "google_secret_manager_secret" "this" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = each.key
  labels    = local.labels
  annotations = {
    purpose = each.value
  }

  replication {
    dynamic "auto" {
      for_each = length(var.secret_replica_locations) == 0 ? [true] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = length(var.secret_replica_locations) == 0 ? [] : [true]
      content {
        dynamic "replicas" {
          for_each = var.secret_replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_reader_bindings

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
