output "vantage_principal" {
  description = "The role Vantage assumes your cross-account role from."
  value       = data.vantage_aws_provider_info.this.iam_role_arn
}

output "vantage_external_id" {
  description = "The external id your role's trust policy requires."
  value       = data.vantage_aws_provider_info.this.external_id
  sensitive   = true
}
