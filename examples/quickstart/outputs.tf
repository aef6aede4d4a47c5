output "vantage_principal" {
  description = "The role Vantage assumes your cross-account role from."
  value       = data.vantage_aws_provider_info.this.iam_role_arn
}

output "vantage_external_id" {
  description = "The external id your role's trust policy requires."
  value       = data.vantage_aws_provider_info.this.external_id
  sensitive   = true
}

output "cross_account_role_arn" {
  description = "The role to register with Vantage."
  value       = vantage_aws_cross_account_role.this.arn
}

output "inline_policies" {
  description = "Inline policies on the role."
  value       = sort([for p in vantage_aws_role_policy.vantage : p.name])
}
