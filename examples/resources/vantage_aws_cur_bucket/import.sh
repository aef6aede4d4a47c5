# Import by bucket name.
terraform import vantage_aws_cur_bucket.this vantage-cur-example-0123456789
