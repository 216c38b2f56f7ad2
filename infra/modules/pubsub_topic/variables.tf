variable "project" {
  description = "Project id that owns the topic."
  type        = string
}

variable "name" {
  description = "Topic name, e.g. \"sync-requests\"."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}$", var.name)) && !startswith(lower(var.name), "goog")
    error_message = "A topic name is 3 to 255 characters, starts with a letter and must not start with \"goog\"."
  }
}

variable "message_retention_duration" {
  description = "How long the topic keeps messages, acknowledged or not, so a subscription can seek back and replay after an incident."
  type        = string
  default     = "604800s" # 7 days

  validation {
    # Pub/Sub accepts 10 minutes to 31 days.
    condition = (
      can(regex("^[0-9]+s$", var.message_retention_duration))
      && try(tonumber(trimsuffix(var.message_retention_duration, "s")) >= 600, false)
      && try(tonumber(trimsuffix(var.message_retention_duration, "s")) <= 2678400, false)
    )
    error_message = "The message_retention_duration must be seconds such as \"604800s\", between 600s and 2678400s (31 days)."
  }
}

variable "publishers" {
  description = "IAM members granted roles/pubsub.publisher on this topic only. Values must be known at plan time."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.publishers : can(regex("^(serviceAccount|user|group|domain|principal|principalSet):.+$", m))])
    error_message = "Each publisher must be a typed IAM member (serviceAccount:..., group:...); allUsers and allAuthenticatedUsers are refused."
  }
}

variable "labels" {
  description = "Labels on the topic; managed-by is added."
  type        = map(string)
  default     = {}
}
