output "cross_account_role_arn" {
  description = "ARN of the role Vantage assumes."
  value       = vantage_aws_cross_account_role.this.arn
}

output "cur_bucket_arn" {
  description = "ARN of the CUR bucket (null for member accounts)."
  value       = one(vantage_aws_cur_bucket.this[*].arn)
}

output "cur_report_name" {
  description = "Name of the CUR report definition or data export (null for member accounts)."
  value       = one(concat(vantage_aws_cur_report.this[*].name, vantage_aws_data_export.this[*].name))
}

output "data_export_arn" {
  description = "ARN of the CUR 2.0 data export (null unless cur_version = 2)."
  value       = one(vantage_aws_data_export.this[*].arn)
}

output "integration_id" {
  description = "Vantage's id of the integration."
  value       = vantage_aws_integration.this.id
}

output "integration_status" {
  description = "Vantage's status of the integration (pending, importing, connected, ...)."
  value       = vantage_aws_integration.this.status
}

output "account_role" {
  description = "management, member or standalone."
  value       = data.vantage_aws_account.this.role
}
