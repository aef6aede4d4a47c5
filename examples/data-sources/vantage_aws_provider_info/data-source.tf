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

# A role made with another tool (here hashicorp/aws): the trust and CUR retrieval
# documents exactly as vantage_aws_cross_account_role and vantage_aws_role_policy write them.
data "vantage_aws_provider_info" "manual" {
  cur_bucket = "my-cur-bucket"
}

resource "aws_iam_role" "vantage" {
  name               = "vantage-cross-account"
  assume_role_policy = data.vantage_aws_provider_info.manual.assume_role_policy
}

resource "aws_iam_role_policy" "root" {
  name   = "root"
  role   = aws_iam_role.vantage.id
  policy = data.vantage_aws_provider_info.manual.root_policy
}

resource "aws_iam_role_policy" "cur" {
  name   = "VantageCostandUsageReportRetrieval"
  role   = aws_iam_role.vantage.id
  policy = data.vantage_aws_provider_info.manual.cur_retrieval_policy
}

resource "vantage_aws_integration" "this" {
  cross_account_role_arn = aws_iam_role.vantage.arn
  bucket_arn             = "arn:aws:s3:::my-cur-bucket"
  depends_on             = [aws_iam_role_policy.root, aws_iam_role_policy.cur]
}
