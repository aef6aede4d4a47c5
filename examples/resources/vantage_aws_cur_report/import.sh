# Import by report name.
terraform import vantage_aws_cur_report.this VantageReport
