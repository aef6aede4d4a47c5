# Import by export ARN, or by name.
terraform import vantage_aws_data_export.this arn:aws:bcm-data-exports:us-east-1:123456789012:export/VantageDataExport-0f1e2d3c
terraform import vantage_aws_data_export.this VantageDataExport
