# Types and descriptions only; validation and defaults for optional settings live in modules/platform,
# so both environments check their inputs the same way.

variable "project_id" {
  description = "Google Cloud project of this environment. Cloud Build passes its own $PROJECT_ID."
  type        = string
}

variable "region" {
  description = "Region of the functions and the source bucket. Cloud Build passes $_REGION."
  type        = string
}

variable "firestore_location" {
  description = "Location of the (default) Firestore database (\"eur3\", \"nam5\" or a region). Permanent."
  type        = string
}

variable "firestore_delete_protection" {
  description = "Refuse deletion of the Firestore database."
  type        = bool
  default     = true
}

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of Firestore versions for recovery."
  type        = bool
  default     = true
}

variable "source_noncurrent_retention_days" {
  description = "Days a replaced function zip stays restorable (the rollback window)."
  type        = number
  default     = 30
}

variable "secret_replica_locations" {
  description = "Regions that may store secret payloads; empty for automatic replication."
  type        = list(string)
  default     = []
}

variable "crm_backend_service_account" {
  description = "Email of the CRM backend's service account, the only invoker of the api function."
  type        = string
}

variable "crm_jwt_issuer" {
  description = "Required iss claim of the CRM backend's tokens."
  type        = string
  default     = "crm-backend"
}

variable "crm_jwt_audience" {
  description = "Required aud claim of the CRM backend's tokens."
  type        = string
  default     = "crm-google-integration"
}

variable "crm_jwt_jwks" {
  description = "JSON Web Key Set with the CRM backend's public signing keys."
  type        = string
}

variable "google_oauth_client_id" {
  description = "Client id of the Web application OAuth client (infra/README.md). Public; its secret goes to Secret Manager."
  type        = string
}

variable "crm_return_origins" {
  description = "https origins of the CRM that a connect attempt may return the browser to."
  type        = list(string)
}

variable "mail_read_state_write_back" {
  description = "Ask for gmail.modify so read state and labels can be written back to Gmail."
  type        = bool
  default     = false
}

variable "scheduler_time_zone" {
  description = "Time zone of the Cloud Scheduler jobs' schedules (tz database name)."
  type        = string
  default     = "Etc/UTC"
}

variable "function_source_zips" {
  description = "Zip path per function, from `scripts/package_functions.py --tfvars-out` (pass it with -var-file)."
  type        = map(string)
}

variable "api" {
  description = "Scaling and sizing of the api function; unset fields take the defaults of modules/platform."
  type = object({
    min_instances   = optional(number)
    max_instances   = optional(number)
    memory          = optional(string)
    cpu             = optional(string)
    concurrency     = optional(number)
    timeout_seconds = optional(number)
  })
  default = {}
}

variable "push_coalesce_seconds" {
  description = "Seconds a queued sync of a mailbox, calendar or Drive absorbs further pushes and safety-net requests. Null: the module's default (30)."
  type        = number
  default     = null
}

variable "sync_worker_max_instances" {
  description = "Most sync-worker instances (concurrent syncs). Null: the module's default (20)."
  type        = number
  default     = null
}

variable "purge_worker_max_instances" {
  description = "Most purge-worker instances (concurrent tenant purges). Null: the module's default (10)."
  type        = number
  default     = null
}

variable "outbound_worker_max_instances" {
  description = "Most outbound-worker instances (concurrent CRM-to-Google writes). Null: the module's default (10)."
  type        = number
  default     = null
}

variable "gmail_price_list" {
  description = "Gmail quota price list, \"2026-05\" or \"legacy\" (projects created before 2026-05-01). Null: the module's default (\"2026-05\")."
  type        = string
  default     = null
}

variable "gmail_user_units_per_minute" {
  description = "Per-user Gmail quota units per minute to pace to. Null: the price list's own figure."
  type        = number
  default     = null
}

variable "alert_notification_channels" {
  description = "Notification channel ids (projects/<project>/notificationChannels/<id>) of every alert. Null: none."
  type        = list(string)
  default     = null
}

variable "reconnect_alert_threshold" {
  description = "Reconnects within an hour above which the reconnect burst alert fires. Null: the module's default (20)."
  type        = number
  default     = null
}

variable "labels" {
  description = "Extra labels on every labelled resource."
  type        = map(string)
  default     = {}
}
