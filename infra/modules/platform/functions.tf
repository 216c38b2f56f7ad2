# The deployed functions, one module call each. The settings they read are documented in shared/config.py.

module "api" {
  source = "../function"

  project               = var.project_id
  region                = var.region
  name                  = "api"
  description           = "HTTPS JSON API that the CRM backend calls."
  entry_point           = "api"
  source_zip_path       = var.function_source_zips["api"]
  bucket                = google_storage_bucket.function_sources.name
  build_service_account = google_service_account.function_builder.id
  labels                = local.labels

  environment_variables = {
    ENVIRONMENT             = var.environment
    GOOGLE_CLOUD_PROJECT    = var.project_id
    CRM_JWT_ISSUER          = var.crm_jwt_issuer
    CRM_JWT_AUDIENCE        = var.crm_jwt_audience
    CRM_JWT_JWKS            = var.crm_jwt_jwks
    SYNC_REQUESTS_TOPIC     = module.topics["sync-requests"].name
    OUTBOUND_REQUESTS_TOPIC = module.topics["outbound-requests"].name
    PURGE_REQUESTS_TOPIC    = module.topics["purge-requests"].name
  }

  min_instances   = var.api.min_instances
  max_instances   = var.api.max_instances
  memory          = var.api.memory
  cpu             = var.api.cpu
  concurrency     = var.api.concurrency
  timeout_seconds = var.api.timeout_seconds

  # The CRM backend runs outside this project's network, so ingress is open; IAM is the gate: only
  # the CRM backend's service account may invoke, and the function also checks the CRM's own JWT.
  ingress_settings = "ALLOW_ALL"
  invokers         = ["serviceAccount:${var.crm_backend_service_account}"]

  depends_on = [google_project_service.enabled, google_project_iam_member.function_builder]
}
