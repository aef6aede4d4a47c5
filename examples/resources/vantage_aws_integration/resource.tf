# Register the cross-account role and the CUR bucket with Vantage. A brand-new
# role is retried until IAM lets Vantage assume it (up to timeouts.create).
resource "vantage_aws_integration" "this" {
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn             = "arn:aws:s3:::my-vantage-cur-bucket"

  # Vantage must be able to read the bucket when the integration is registered.
  depends_on = [vantage_aws_role_policy.cur]

  timeouts {
    create = "5m"
  }
}

# A member account has no CUR of its own: register its role without a bucket.
resource "vantage_aws_integration" "member" {
  cross_account_role_arn = "arn:aws:iam::210987654321:role/vantage_cross_account_connection"
}

output "vantage_integration_status" {
  value = vantage_aws_integration.this.status
}
