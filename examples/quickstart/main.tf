# Vantage's "Set Up AWS" guide in one configuration. `cargo xtask demo`
# applies it against the local devstack; point VANTAGE_API_TOKEN and your AWS
# credentials at the real services to use it for real.

terraform {
  required_version = ">= 1.5"
  required_providers {
    vantage = {
      source = "terraform.local/vantage/vantage"
    }
  }
}

provider "vantage" {}

# What Vantage needs in this account: its principal, our external id, its policies.
data "vantage_aws_provider_info" "this" {}

locals {
  # Read-only by default: autopilot (write actions) is not attached.
  vantage_presets = {
    root                              = "root"
    VantageCloudWatchMetricsReadOnly  = "cloudwatch"
    VantageAdditionalResourceReadOnly = "resources"
  }
}

# The role Vantage assumes, trusting its principal with our external id.
resource "vantage_aws_cross_account_role" "this" {
  inline_policies = keys(local.vantage_presets)
}

resource "vantage_aws_role_policy" "vantage" {
  for_each = local.vantage_presets

  role   = vantage_aws_cross_account_role.this.name
  name   = each.key
  preset = each.value
}
