# The role Vantage assumes. Its trust policy names Vantage's principal and
# requires your account's external id (both read from Vantage unless given).
resource "vantage_aws_cross_account_role" "this" {
  name = "vantage_cross_account_connection"

  # Inline policies attached by vantage_aws_role_policy resources; any other
  # inline policy found on the role is removed (exclusive_inline_policies).
  inline_policies = ["root", "VantageCloudWatchMetricsReadOnly", "VantageAdditionalResourceReadOnly"]

  permissions_boundary = "arn:aws:iam::123456789012:policy/vantage-boundary"

  tags = {
    Purpose = "vantage"
  }
}

output "vantage_role_arn" {
  value = vantage_aws_cross_account_role.this.arn
}
