# Import by the integration's id (the number Vantage assigned to the registration).
terraform import vantage_aws_integration.this 12
