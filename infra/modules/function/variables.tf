variable "project" {
  description = "Project id that owns the function, its service account and its source object."
  type        = string
}

variable "region" {
  description = "Region of the function (and of its Cloud Run service)."
  type        = string
}

variable "name" {
  description = "Function name, also the Cloud Run service name. The service account id is \"fn-<name>\"."
  type        = string

  validation {
    # Lower case and hyphens keep the Cloud Run service name equal to the function name (the invoker
    # binding targets the service by that name); 3..27 characters keep "fn-<name>" within the 6..30
    # characters a service account id allows.
    condition     = can(regex("^[a-z][a-z0-9-]{1,25}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 27 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "description" {
  description = "What the function does, shown in the console."
  type        = string
  default     = ""
}

variable "entry_point" {
  description = "Name of the Python function in main.py that the runtime calls."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.entry_point))
    error_message = "entry_point must be a Python identifier."
  }
}

variable "source_zip_path" {
  description = "Local path of the zip built by scripts/package_functions.py. Its SHA-256 names the uploaded object."
  type        = string

  validation {
    condition     = endswith(var.source_zip_path, ".zip")
    error_message = "source_zip_path must point at a .zip built by scripts/package_functions.py."
  }
}

variable "bucket" {
  description = "Name of the bucket that holds function source zips."
  type        = string
}

variable "environment_variables" {
  description = "Plain environment variables of the running function. Never put a secret here: they are visible in the console and in Terraform state."
  type        = map(string)
  default     = {}
}

variable "secret_environment_variables" {
  description = "Environment variables read from Secret Manager when an instance starts. The module grants the function's service account access to each secret named here."
  type = list(object({
    key     = string
    secret  = string
    version = string
  }))
  default = []

  validation {
    # A numeric version makes a rotation an explicit, reviewable change; "latest" is allowed but only
    # takes effect on instances started after the rotation.
    condition     = alltrue([for s in var.secret_environment_variables : can(regex("^(latest|[1-9][0-9]*)$", s.version))])
    error_message = "Each secret version must be \"latest\" or a version number."
  }

  validation {
    condition     = length(distinct([for s in var.secret_environment_variables : s.key])) == length(var.secret_environment_variables)
    error_message = "Secret environment variable keys must be unique."
  }
}

variable "min_instances" {
  description = "Instances kept warm. 0 lets the function scale to zero (cold starts); 1 or more costs money while idle."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number, 0 or more."
  }
}

variable "max_instances" {
  description = "Upper bound on instances: caps cost and the load the function can put on Firestore and Google's APIs."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number, 1 or more."
  }
}

variable "memory" {
  description = "Memory per instance, e.g. \"256Mi\", \"512Mi\", \"1Gi\"."
  type        = string
  default     = "256Mi"

  validation {
    condition     = can(regex("^[1-9][0-9]*(Mi|Gi|M|G)$", var.memory))
    error_message = "memory must be a size such as 256Mi, 512Mi or 1Gi."
  }
}

variable "cpu" {
  description = "vCPUs per instance, e.g. \"1\". Null lets Google derive it from memory."
  type        = string
  default     = null
}

variable "concurrency" {
  description = "Requests one instance serves at once. Above 1 needs at least 1 vCPU, and the code must be thread-safe."
  type        = number
  default     = 1

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number from 1 to 1000."
  }
}

variable "timeout_seconds" {
  description = "Request deadline. HTTP functions allow up to 3600 s; event-driven ones up to 540 s."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600."
  }
}

variable "ingress_settings" {
  description = "Which networks may reach the function. IAM (invokers) still decides who may call it."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "invokers" {
  description = "IAM members granted roles/run.invoker on this function, e.g. \"serviceAccount:crm@p.iam.gserviceaccount.com\". Values must be known at plan time."
  type        = list(string)
  default     = []

  validation {
    # Requiring an explicit principal type rules out allUsers and allAuthenticatedUsers here: every
    # caller must be an identity we chose. The one way to open a function is public_browser_endpoint.
    condition     = alltrue([for m in var.invokers : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):.+$", m))])
    error_message = "Each invoker must be a typed IAM member (serviceAccount:..., user:..., group:...); allUsers and allAuthenticatedUsers are refused (a browser endpoint sets public_browser_endpoint instead)."
  }
}

variable "public_browser_endpoint" {
  description = "Grant roles/run.invoker to allUsers. Only for an endpoint whose callers cannot send a Google ID token (a user's browser; a Google webhook such as Calendar's or Drive's push channels) and whose every request the code authenticates by its own means, such as a one-time OAuth state bound to a browser cookie or a channel's random token. Needs invokers empty and an ingress those callers can reach."
  type        = bool
  default     = false
  nullable    = false
}

variable "build_service_account" {
  description = "Full id (projects/P/serviceAccounts/EMAIL) of the service account Cloud Build uses to build the function. Null: Google's default."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels on the function and its service; name and managed-by are added."
  type        = map(string)
  default     = {}
}
