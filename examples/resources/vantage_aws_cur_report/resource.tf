# The Cost and Usage Report, created in the management (payer) account. The
# defaults are those of Vantage's module: daily, CSV with GZIP, resource ids,
# prefix "daily-v1", overwriting the report, refreshing closed months.
resource "vantage_aws_cur_report" "this" {
  name   = "VantageReport"
  bucket = vantage_aws_cur_bucket.this.bucket

  tags = {
    Purpose = "vantage"
  }
}

# Hourly line items instead (changing time_unit replaces the report).
resource "vantage_aws_cur_report" "hourly" {
  name      = "VantageReportHourly"
  bucket    = vantage_aws_cur_bucket.this.bucket
  time_unit = "HOURLY" # prefix defaults to "hourly-v1"
}

output "cur_report_status" {
  value = vantage_aws_cur_report.this.last_status
}
