# One AWS account connected to Vantage: the cross-account role with Vantage's
# read-only policies, and (in the management account) the Cost and Usage
# Report with its bucket, all registered with Vantage. The variables follow
# Vantage's own Terraform module where they make sense.

terraform {
  required_version = ">= 1.5"
  required_providers {
    vantage = {
      source = "terraform.local/vantage/vantage"
    }
  }
}

data "vantage_aws_account" "this" {}

locals {
  # Vantage's read-only documents, under the names its module uses.
  read_only_presets = {
    root                              = "root"
    VantageCloudWatchMetricsReadOnly  = "cloudwatch"
    VantageAdditionalResourceReadOnly = "resources"
  }
  presets = merge(local.read_only_presets, var.enable_autopilot ? { VantageAutoPilot = "autopilot" } : {})

  # Member accounts have no CUR of their own: the management account's covers them.
  with_cur = var.cur_enabled && !var.member_account

  bucket_name = coalesce(var.cur_bucket_name, "vantage-cur-${data.vantage_aws_account.this.account_id}")

  inline_policy_names = concat(
    keys(local.presets),
    keys(var.additional_inline_policies),
    local.with_cur ? ["VantageCostandUsageReportRetrieval"] : [],
  )
}

resource "vantage_aws_cross_account_role" "this" {
  name                 = var.cross_account_role_name
  permissions_boundary = var.permissions_boundary
  inline_policies      = local.inline_policy_names
  tags                 = var.tags
}

resource "vantage_aws_role_policy" "presets" {
  for_each = local.presets

  role                = vantage_aws_cross_account_role.this.name
  name                = each.key
  preset              = each.value
  allow_write_actions = each.value == "autopilot"
}

resource "vantage_aws_role_policy" "additional" {
  for_each = var.additional_inline_policies

  role   = vantage_aws_cross_account_role.this.name
  name   = each.key
  policy = each.value
}

resource "vantage_aws_cur_bucket" "this" {
  count = local.with_cur ? 1 : 0

  bucket                 = local.bucket_name
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  tags                   = var.tags
}

resource "vantage_aws_role_policy" "cur" {
  count = local.with_cur ? 1 : 0

  role       = vantage_aws_cross_account_role.this.name
  name       = "VantageCostandUsageReportRetrieval"
  preset     = "cur_retrieval"
  cur_bucket = vantage_aws_cur_bucket.this[0].bucket
}

resource "vantage_aws_cur_report" "this" {
  count = local.with_cur && var.cur_version == 1 ? 1 : 0

  name      = var.cur_report_name
  bucket    = vantage_aws_cur_bucket.this[0].bucket
  time_unit = var.cur_report_time_unit
  tags      = var.tags
}

# CUR 2.0 (BCM Data Exports) instead, with `cur_version = 2`.
resource "vantage_aws_data_export" "this" {
  count = local.with_cur && var.cur_version == 2 ? 1 : 0

  name      = var.cur_report_name
  bucket    = vantage_aws_cur_bucket.this[0].bucket
  time_unit = var.cur_report_time_unit
  tags      = var.tags
}

resource "vantage_aws_integration" "this" {
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn             = local.with_cur ? vantage_aws_cur_bucket.this[0].arn : null

  # Vantage checks on registration that it can assume the role and read the bucket.
  depends_on = [
    vantage_aws_role_policy.presets, vantage_aws_role_policy.cur, vantage_aws_cur_report.this, vantage_aws_data_export.this,
  ]
}
