terraform {
  required_providers {
    vantage = {
      source = "terraform.local/vantage/vantage"
    }
  }
}

# The Vantage API token comes from VANTAGE_API_TOKEN; AWS credentials from the
# standard chain (environment, profile, SSO, instance role).
provider "vantage" {
  region = "us-east-1"

  default_tags {
    tags = {
      ManagedBy = "terraform"
    }
  }
}
