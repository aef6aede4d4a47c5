# Import by role name.
terraform import vantage_aws_cross_account_role.this vantage_cross_account_connection
