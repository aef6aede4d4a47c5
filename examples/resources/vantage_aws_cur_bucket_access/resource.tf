# A CUR bucket you already have, whose policy another tool manages: Vantage's
# statements are merged beside the others (and removed on destroy), and new
# report files notify Vantage beside the bucket's other notifications.
resource "vantage_aws_cur_bucket_access" "this" {
  bucket                 = "my-existing-cur-bucket"
  cross_account_role_arn = vantage_aws_cross_account_role.this.arn
}

resource "vantage_aws_cur_report" "this" {
  bucket = vantage_aws_cur_bucket_access.this.bucket
}
