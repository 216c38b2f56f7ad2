variable "project_id" {
  description = "Google Cloud project that holds this environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a Google Cloud project id (6 to 30 lower-case letters, digits and hyphens)."
  }
}

variable "region" {
  description = "Region of the functions and the source bucket, e.g. \"europe-west1\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "The region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "environment" {
  description = "Which environment this is; the functions read it as ENVIRONMENT."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "The environment must be dev or prod."
  }
}

variable "firestore_location" {
  description = "Location of the (default) Firestore database, e.g. \"eur3\" or \"europe-west1\". It can never change after creation."
  type        = string

  validation {
    condition     = length(var.firestore_location) > 0
    error_message = "The firestore_location must be set: it is permanent, so choose it on purpose."
  }
}

variable "firestore_delete_protection" {
  description = "Refuse deletion of the Firestore database, even by its owners."
  type        = bool
  default     = true
}

variable "firestore_point_in_time_recovery" {
  description = "Keep 7 days of Firestore versions so a bad write or purge can be read back (costs storage)."
  type        = bool
  default     = true
}

variable "source_noncurrent_retention_days" {
  description = "Days a replaced function zip is kept as a noncurrent object version: the rollback window."
  type        = number
  default     = 30

  validation {
    condition     = var.source_noncurrent_retention_days >= 1
    error_message = "The source_noncurrent_retention_days must be at least 1."
  }
}

variable "secret_replica_locations" {
  description = "Regions that may store secret payloads. Empty: Google chooses (automatic replication)."
  type        = list(string)
  default     = []
}

variable "crm_backend_service_account" {
  description = "Email of the service account the CRM backend calls the api function as; the only invoker of api."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{4,62}@([a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam|developer|appspot)\\.gserviceaccount\\.com$", var.crm_backend_service_account))
    error_message = "The crm_backend_service_account must be a service account email such as crm-backend@my-project.iam.gserviceaccount.com (no \"serviceAccount:\" prefix)."
  }
}

variable "crm_jwt_issuer" {
  description = "Required iss claim of the CRM backend's tokens (CRM_JWT_ISSUER)."
  type        = string
  default     = "crm-backend"
}

variable "crm_jwt_audience" {
  description = "Required aud claim of the CRM backend's tokens (CRM_JWT_AUDIENCE)."
  type        = string
  default     = "crm-google-integration"
}

variable "crm_jwt_jwks" {
  description = "JSON Web Key Set with the CRM backend's PUBLIC signing keys (CRM_JWT_JWKS). Public, so a plain variable."
  type        = string

  validation {
    condition     = try(length(jsondecode(var.crm_jwt_jwks).keys) > 0, false)
    error_message = "The crm_jwt_jwks must be a JSON object with a non-empty \"keys\" list."
  }

  validation {
    # A private key here would end up in Terraform state and in the function's environment.
    condition = try(alltrue([
      for key in jsondecode(var.crm_jwt_jwks).keys :
      length(setintersection(keys(key), ["d", "p", "q", "dp", "dq", "qi", "k"])) == 0
    ]), false)
    error_message = "The crm_jwt_jwks holds private key material (d, p, q, dp, dq, qi or k): publish only public keys."
  }
}

variable "function_source_zips" {
  description = "Zip path per function directory name, as written by `scripts/package_functions.py --tfvars-out`."
  type        = map(string)

  validation {
    # Keys are function directory names (functions/<name>/main.py), hence the underscores.
    condition     = length(setsubtract(["api", "calendar_push", "daily_purge", "drive_push", "gmail_push", "oauth_callback", "outbound_worker", "purge_worker", "renew_watches", "sync_worker"], keys(var.function_source_zips))) == 0
    error_message = "The function_source_zips map needs \"api\", \"calendar_push\", \"daily_purge\", \"drive_push\", \"gmail_push\", \"oauth_callback\", \"outbound_worker\", \"purge_worker\", \"renew_watches\" and \"sync_worker\": run python scripts/package_functions.py --out build/functions --tfvars-out build/functions/sources.tfvars.json and pass -var-file=build/functions/sources.tfvars.json."
  }

  validation {
    condition     = alltrue([for path in values(var.function_source_zips) : fileexists(path)])
    error_message = "A zip named in function_source_zips does not exist: package the functions again (scripts/package_functions.py)."
  }
}

variable "google_oauth_client_id" {
  description = "Client id of the Web application OAuth client created by hand (infra/README.md); GOOGLE_OAUTH_CLIENT_ID. Public: it appears in every consent URL. Its secret goes to Secret Manager, never here."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-z-]+\\.apps\\.googleusercontent\\.com$", var.google_oauth_client_id))
    error_message = "The google_oauth_client_id must be an OAuth client id such as 123456789012-abc123.apps.googleusercontent.com."
  }
}

variable "crm_return_origins" {
  description = "Origins of the CRM (https://crm.example.com) that a connect attempt may send the browser back to (CRM_RETURN_ORIGINS)."
  type        = list(string)
  nullable    = false

  validation {
    # Compared as-is with scheme://host[:port] of the return URL: lower case, no path, no trailing slash.
    condition     = alltrue([for o in var.crm_return_origins : can(regex("^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$", o))])
    error_message = "Each crm_return_origins entry must be an https origin in lower case with no path or trailing slash, e.g. https://crm.example.com."
  }

  validation {
    condition     = length(var.crm_return_origins) > 0
    error_message = "The crm_return_origins list is empty: no connect attempt could return to the CRM."
  }
}

variable "mail_read_state_write_back" {
  description = "Ask users for gmail.modify so read state and labels can be written back to Gmail (MAIL_READ_STATE_WRITE_BACK). A broader scope: the OAuth consent screen must list it."
  type        = bool
  default     = false
  nullable    = false
}

variable "scheduler_time_zone" {
  description = "Time zone (tz database name) of the Cloud Scheduler jobs' cron schedules."
  type        = string
  default     = "Etc/UTC"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.scheduler_time_zone))
    error_message = "The scheduler_time_zone must be a tz database name such as Etc/UTC or Europe/Berlin."
  }
}

# memory defaults to 1Gi, not 512Mi: the api calls Google Drive synchronously, and one request may hold
# a 25 MB upload body (and the copy it sends on to Drive) or a 10 MB Google Docs export in memory.
variable "api" {
  description = "Scaling and sizing of the api function."
  type = object({
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 10)
    memory          = optional(string, "1Gi")
    cpu             = optional(string)
    concurrency     = optional(number, 1)
    timeout_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false
}

variable "push_coalesce_seconds" {
  description = "After a push (a Gmail notification, a Calendar or Drive channel's) or a safety net queues a sync of a mailbox, calendar or Drive, further ones wait this long (PUSH_COALESCE_SECONDS)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.push_coalesce_seconds > 0
    error_message = "The push_coalesce_seconds must be more than 0."
  }
}

variable "sync_worker_max_instances" {
  description = "Most sync-worker instances at once; each runs one sync, so this caps concurrent syncs, Firestore writes and Gmail calls."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.sync_worker_max_instances >= 1 && floor(var.sync_worker_max_instances) == var.sync_worker_max_instances
    error_message = "The sync_worker_max_instances must be a whole number, 1 or more."
  }
}

variable "purge_worker_max_instances" {
  description = "Most purge-worker instances at once; each purges one tenant, so this caps concurrent purges and their Firestore deletes."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.purge_worker_max_instances >= 1 && floor(var.purge_worker_max_instances) == var.purge_worker_max_instances
    error_message = "The purge_worker_max_instances must be a whole number, 1 or more."
  }
}

variable "outbound_worker_max_instances" {
  description = "Most outbound-worker instances at once; each carries out one write, so this caps concurrent CRM-to-Google writes and their Google calls."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.outbound_worker_max_instances >= 1 && floor(var.outbound_worker_max_instances) == var.outbound_worker_max_instances
    error_message = "The outbound_worker_max_instances must be a whole number, 1 or more."
  }
}

variable "gmail_price_list" {
  description = "Gmail quota prices the sync paces itself to (GMAIL_PRICE_LIST): \"2026-05\" for projects created from 2026-05-01, \"legacy\" for older ones."
  type        = string
  default     = "2026-05"
  nullable    = false

  validation {
    condition     = contains(["2026-05", "legacy"], var.gmail_price_list)
    error_message = "The gmail_price_list must be \"2026-05\" or \"legacy\"."
  }
}

variable "gmail_user_units_per_minute" {
  description = "Per-user Gmail quota units per minute to pace to (GMAIL_USER_UNITS_PER_MINUTE). Null: the price list's own figure."
  type        = number
  default     = null

  validation {
    condition     = var.gmail_user_units_per_minute == null || try(var.gmail_user_units_per_minute > 0 && floor(var.gmail_user_units_per_minute) == var.gmail_user_units_per_minute, false)
    error_message = "The gmail_user_units_per_minute must be null or a whole number above 0."
  }
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channels (projects/<project>/notificationChannels/<id>) of every alert (dead letters, watch renewals, purge errors, reconnect bursts). Empty: incidents show in the console only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each alert_notification_channels entry must be a channel id such as projects/my-project/notificationChannels/123."
  }
}

variable "reconnect_alert_threshold" {
  description = "Connections turning to needs_reconnect within an hour above which the \"Burst of connections needing reconnect\" alert fires. A few users revoking access is normal; a burst points at the OAuth client or its secret."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.reconnect_alert_threshold >= 0 && floor(var.reconnect_alert_threshold) == var.reconnect_alert_threshold
    error_message = "The reconnect_alert_threshold must be a whole number, 0 or more."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels (app and environment are always set)."
  type        = map(string)
  default     = {}
}
