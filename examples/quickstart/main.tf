# Vantage's "Set Up AWS" guide in one configuration: the read-only
# cross-account role, the Cost and Usage Report with its bucket, and the
# registration with Vantage. `cargo xtask demo` applies it against the local
# devstack; with a real VANTAGE_API_TOKEN and AWS credentials it does it for real.

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

# Which account this is; Vantage wants the management account connected first.
data "vantage_aws_account" "this" {}

locals {
  # Read-only by default: Autopilot (write actions) is not attached.
  vantage_presets = {
    root                              = "root"
    VantageCloudWatchMetricsReadOnly  = "cloudwatch"
    VantageAdditionalResourceReadOnly = "resources"
  }
  cur_bucket = "vantage-cur-${data.vantage_aws_account.this.account_id}"
}

# The role Vantage assumes, trusting its principal with our external id.
resource "vantage_aws_cross_account_role" "this" {
  inline_policies = concat(keys(local.vantage_presets), ["VantageCostandUsageReportRetrieval"])
}

resource "vantage_aws_role_policy" "vantage" {
  for_each = local.vantage_presets

  role   = vantage_aws_cross_account_role.this.name
  name   = each.key
  preset = each.value
}

variable "cur_bucket_force_destroy" {
  description = "Let `terraform destroy` delete the report files with the bucket (the demo sets it)."
  type        = bool
  default     = false
}

# The bucket AWS billing writes the Cost and Usage Report into.
resource "vantage_aws_cur_bucket" "this" {
  bucket                 = local.cur_bucket
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  force_destroy          = var.cur_bucket_force_destroy
}

# Vantage's role may read the report files.
resource "vantage_aws_role_policy" "cur" {
  role       = vantage_aws_cross_account_role.this.name
  name       = "VantageCostandUsageReportRetrieval"
  preset     = "cur_retrieval"
  cur_bucket = vantage_aws_cur_bucket.this.bucket
}

variable "cur_version" {
  description = "1: a CUR 1.0 report definition; 2: a CUR 2.0 data export (BCM Data Exports)."
  type        = number
  default     = 1
  validation {
    condition     = contains([1, 2], var.cur_version)
    error_message = "cur_version is 1 (CUR 1.0 report) or 2 (CUR 2.0 data export)."
  }
}

# The report definition (CUR lives in us-east-1 whatever the bucket's region).
resource "vantage_aws_cur_report" "this" {
  count  = var.cur_version == 1 ? 1 : 0
  bucket = vantage_aws_cur_bucket.this.bucket
}

# Or CUR 2.0: Vantage's data export, under "daily-v2" in the same bucket.
resource "vantage_aws_data_export" "this" {
  count  = var.cur_version == 2 ? 1 : 0
  bucket = vantage_aws_cur_bucket.this.bucket
}

# The registration with Vantage, reconciled on every plan.
resource "vantage_aws_integration" "this" {
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn             = vantage_aws_cur_bucket.this.arn

  depends_on = [
    vantage_aws_role_policy.vantage, vantage_aws_role_policy.cur, vantage_aws_cur_report.this, vantage_aws_data_export.this,
  ]
}
