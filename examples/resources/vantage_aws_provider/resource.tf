# The official provider's resource, unchanged: switch the provider source and
# keep the configuration.
resource "vantage_aws_provider" "vantage_aws_provider" {
  cross_account_arn = vantage_aws_cross_account_role.this.arn
  bucket_arn        = "arn:aws:s3:::my-vantage-cur-bucket"
}

# Later, move to vantage_aws_integration without registering again.
# moved {
#   from = vantage_aws_provider.vantage_aws_provider
#   to   = vantage_aws_integration.this
# }
