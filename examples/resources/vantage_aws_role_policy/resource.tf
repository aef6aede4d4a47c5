# Vantage's read-only documents, attached under the names its module uses.
locals {
  vantage_presets = {
    root                              = "root"
    VantageCloudWatchMetricsReadOnly  = "cloudwatch"
    VantageAdditionalResourceReadOnly = "resources"
  }
}

resource "vantage_aws_role_policy" "vantage" {
  for_each = local.vantage_presets

  role   = vantage_aws_cross_account_role.this.name
  name   = each.key
  preset = each.value
}

# Your own document: write actions and data reads are refused unless allowed.
resource "vantage_aws_role_policy" "extra" {
  role = vantage_aws_cross_account_role.this.name
  name = "ExtraReadOnly"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["cloudtrail:LookupEvents", "health:Describe*"]
      Resource = "*"
    }]
  })
}
