data "vantage_aws_provider_info" "this" {}

# Vantage's principal, to trust in your cross-account role.
output "vantage_principal" {
  value = data.vantage_aws_provider_info.this.iam_role_arn
}

# Your account's external id: keep it out of logs and plan output.
output "vantage_external_id" {
  value     = data.vantage_aws_provider_info.this.external_id
  sensitive = true
}
