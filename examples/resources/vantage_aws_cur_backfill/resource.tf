# Backfill past reporting periods (Vantage's guide): copy the historical report
# files into the CUR bucket under the report's prefix, and ask AWS Support for
# the periods that have no files.
resource "vantage_aws_cur_backfill" "this" {
  source_bucket      = "my-old-cur-bucket"
  source_prefix      = "cur/MyOldReport"
  bucket             = vantage_aws_cur_bucket.this.bucket
  destination_prefix = "${vantage_aws_cur_report.this.prefix}/${vantage_aws_cur_report.this.name}"
  report_name        = vantage_aws_cur_report.this.name
  periods            = ["2026-01", "2026-02", "2026-03"]
}

output "backfill_support_request" {
  value = vantage_aws_cur_backfill.this.support_request
}
