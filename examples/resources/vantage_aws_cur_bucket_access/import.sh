# Import by bucket name.
terraform import vantage_aws_cur_bucket_access.this my-existing-cur-bucket
