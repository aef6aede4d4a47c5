# Import by the StackSet's name.
terraform import vantage_aws_member_account_roles.members VantageMemberAccountRoles
