# CUR 2.0: a data export in the shape Vantage asks for (Vantage's columns, every
# table property set, daily CSV with GZIP under "daily-v2"), created in the
# management (payer) account. It can run beside vantage_aws_cur_report on the
# same bucket while moving from CUR 1.0.
resource "vantage_aws_data_export" "this" {
  bucket = vantage_aws_cur_bucket.this.bucket
}

# Extra columns and a table property set differently from Vantage's.
resource "vantage_aws_data_export" "with_split_costs" {
  name               = "VantageDataExportSplit"
  bucket             = vantage_aws_cur_bucket.this.bucket
  additional_columns = ["split_line_item_split_cost"]
  table_configuration = {
    INCLUDE_SPLIT_COST_ALLOCATION_DATA = "TRUE"
  }
}

output "data_export_status" {
  value = vantage_aws_data_export.this.status
}
