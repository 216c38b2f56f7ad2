# The dev environment: the shared platform module with dev's variables. Keep this file identical to
# environments/prod/main.tf except for the environment name; differences belong in terraform.tfvars.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "platform" {
  source = "../../modules/platform"

  environment = "dev"
  project_id  = var.project_id
  region      = var.region
  labels      = var.labels

  firestore_location               = var.firestore_location
  firestore_delete_protection      = var.firestore_delete_protection
  firestore_point_in_time_recovery = var.firestore_point_in_time_recovery

  source_noncurrent_retention_days = var.source_noncurrent_retention_days
  secret_replica_locations         = var.secret_replica_locations

  crm_backend_service_account = var.crm_backend_service_account
  crm_jwt_issuer              = var.crm_jwt_issuer
  crm_jwt_audience            = var.crm_jwt_audience
  crm_jwt_jwks                = var.crm_jwt_jwks

  google_oauth_client_id     = var.google_oauth_client_id
  crm_return_origins         = var.crm_return_origins
  mail_read_state_write_back = var.mail_read_state_write_back
  scheduler_time_zone        = var.scheduler_time_zone

  function_source_zips = var.function_source_zips
  api                  = var.api

  push_coalesce_seconds         = var.push_coalesce_seconds
  sync_worker_max_instances     = var.sync_worker_max_instances
  purge_worker_max_instances    = var.purge_worker_max_instances
  outbound_worker_max_instances = var.outbound_worker_max_instances
  gmail_price_list              = var.gmail_price_list
  gmail_user_units_per_minute   = var.gmail_user_units_per_minute
  alert_notification_channels   = var.alert_notification_channels
  reconnect_alert_threshold     = var.reconnect_alert_threshold
}
