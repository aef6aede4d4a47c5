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
