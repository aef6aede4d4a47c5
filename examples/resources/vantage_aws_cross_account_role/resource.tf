# The role Vantage assumes. Its trust policy names Vantage's principal and
# requires your account's external id (both read from Vantage unless given).
resource "vantage_aws_cross_account_role" "this" {
  name = "vantage_cross_account_connection"

  # Optional. Naming the inline policies your vantage_aws_role_policy
  # resources attach makes the role exclusive: any other inline policy found
  # on it is removed. Leave it out and no inline policy is ever removed;
  # unexpected ones are reported in a plan-time warning.
  inline_policies = ["root", "VantageCloudWatchMetricsReadOnly", "VantageAdditionalResourceReadOnly", "ExtraReadOnly"]

  permissions_boundary = "arn:aws:iam::123456789012:policy/vantage-boundary"

  tags = {
    Purpose = "vantage"
  }
}

output "vantage_role_arn" {
  value = vantage_aws_cross_account_role.this.arn
}
