output "vantage_principal" {
  description = "The role Vantage assumes your cross-account role from."
  value       = data.vantage_aws_provider_info.this.iam_role_arn
}

output "vantage_external_id" {
  description = "The external id your role's trust policy requires."
  value       = data.vantage_aws_provider_info.this.external_id
  sensitive   = true
}

output "account" {
  description = "The AWS account and its place in the organisation."
  value       = "${data.vantage_aws_account.this.account_id} (${data.vantage_aws_account.this.role})"
}

output "cross_account_role_arn" {
  description = "The role registered with Vantage."
  value       = vantage_aws_cross_account_role.this.arn
}

output "inline_policies" {
  description = "Inline policies on the role."
  value       = sort(concat([for p in vantage_aws_role_policy.vantage : p.name], [vantage_aws_role_policy.cur.name]))
}

output "cur_bucket" {
  description = "The bucket AWS billing delivers the report into."
  value       = vantage_aws_cur_bucket.this.bucket
}

output "cur_report" {
  description = "The Cost and Usage Report definition, or the CUR 2.0 data export."
  value       = one(concat(vantage_aws_cur_report.this[*].name, vantage_aws_data_export.this[*].name))
}

output "integration_id" {
  description = "Vantage's id of the integration."
  value       = vantage_aws_integration.this.id
}

output "integration_status" {
  description = "pending until Vantage verifies the role, importing until the first report file arrives, then connected."
  value       = vantage_aws_integration.this.status
}
