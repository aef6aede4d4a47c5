# Import by the integration's id (the number Vantage assigned to the registration).
terraform import vantage_aws_provider.vantage_aws_provider 12
