terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }

  # The state bucket is created once by hand (infra/README.md) and given at init, so this file names
  # no project: terraform init -backend-config="bucket=<state bucket>"
  backend "gcs" {
    prefix = "crm-google-integration/prod"
  }
}
