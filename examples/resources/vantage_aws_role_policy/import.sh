# Import by role name and policy name.
terraform import 'vantage_aws_role_policy.vantage["root"]' vantage_cross_account_connection:root
