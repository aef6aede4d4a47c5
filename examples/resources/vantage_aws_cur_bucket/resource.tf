# The bucket AWS billing delivers the Cost and Usage Report into, set up the
# way Vantage's onboarding does: public access blocked, a bucket policy letting
# AWS billing write and Vantage's role read, old reports expired after 200
# days, and a notification to Vantage's SNS topic when a new report lands.
resource "vantage_aws_cur_bucket" "this" {
  bucket = "vantage-cur-example-0123456789"

  # Defaults to the provider's region. Vantage's notification topic exists in
  # us-east-1, us-west-2, eu-west-1, eu-west-2 and ap-southeast-1; elsewhere
  # set notify_vantage = false.
  region = "us-east-1"

  # Vantage's role may read the report files.
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn

  # Your own statements, added after Vantage's.
  additional_policy_statements = jsonencode([{
    Sid       = "AuditorsList"
    Effect    = "Allow"
    Principal = { AWS = "arn:aws:iam::123456789012:role/auditors" }
    Action    = "s3:ListBucket"
    Resource  = "arn:aws:s3:::vantage-cur-example-0123456789"
  }])

  tags = {
    Purpose = "vantage"
  }
}

output "cur_bucket_arn" {
  value = vantage_aws_cur_bucket.this.arn
}
