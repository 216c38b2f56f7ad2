"""Structural rules for the Terraform in infra/, checked by parsing the HCL; no provider, no network."""
