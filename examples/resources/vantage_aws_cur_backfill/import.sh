# Import by <source_bucket>:<source_prefix>:<bucket>:<destination_prefix>.
terraform import vantage_aws_cur_backfill.this my-old-cur-bucket:cur/MyOldReport:vantage-cur-123456789012:daily-v1/VantageReport
