//! An AWS organisation on a devstack's moto for the StackSet tests: OUs, member accounts moved
//! between them, trusted access, and IAM checks inside each member (through AssumeRole).

use aws_sdk_organizations::Client as Organizations;

use crate::Devstack;
use crate::aws::{Aws, assumed_config};

/// An organisation on the devstack's moto, managed by the default account.
pub struct Org {
    pub rt: tokio::runtime::Runtime,
    pub organizations: Organizations,
    endpoint: String,
    pub root: String,
}

impl Org {
    pub fn create(ds: &Devstack) -> Org {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(crate::aws::REGION))
                .credentials_provider(aws_sdk_organizations::config::Credentials::new(
                    crate::aws::ACCESS_KEY,
                    crate::aws::SECRET_KEY,
                    None,
                    None,
                    "tests",
                ))
                .endpoint_url(&ds.info.aws_url)
                .load(),
        );
        let organizations = Organizations::new(&config);
        rt.block_on(organizations.create_organization().send())
            .expect("CreateOrganization");
        let roots = rt.block_on(organizations.list_roots().send()).expect("ListRoots");
        let root = roots.roots()[0].id().expect("root id").to_string();
        Org {
            rt,
            organizations,
            endpoint: ds.info.aws_url.clone(),
            root,
        }
    }

    pub fn ou(&self, name: &str) -> String {
        let out = self
            .rt
            .block_on(
                self.organizations
                    .create_organizational_unit()
                    .parent_id(&self.root)
                    .name(name)
                    .send(),
            )
            .expect("CreateOrganizationalUnit");
        out.organizational_unit()
            .and_then(|o| o.id())
            .expect("OU id")
            .to_string()
    }

    /// A new member account, moved into `ou`.
    pub fn account(&self, name: &str, ou: &str) -> String {
        let out = self
            .rt
            .block_on(
                self.organizations
                    .create_account()
                    .account_name(name)
                    .email(format!("{name}@example.com"))
                    .send(),
            )
            .expect("CreateAccount");
        let id = out
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("account id")
            .to_string();
        self.move_account(&id, &self.root.clone(), ou);
        id
    }

    pub fn move_account(&self, account: &str, from: &str, to: &str) {
        self.rt
            .block_on(
                self.organizations
                    .move_account()
                    .account_id(account)
                    .source_parent_id(from)
                    .destination_parent_id(to)
                    .send(),
            )
            .expect("MoveAccount");
    }

    pub fn trusted_access(&self, on: bool) {
        const SERVICE: &str = "member.org.stacksets.cloudformation.amazonaws.com";
        let result = if on {
            self.rt
                .block_on(
                    self.organizations
                        .enable_aws_service_access()
                        .service_principal(SERVICE)
                        .send(),
                )
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        } else {
            self.rt
                .block_on(
                    self.organizations
                        .disable_aws_service_access()
                        .service_principal(SERVICE)
                        .send(),
                )
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        };
        result.expect("changing trusted access");
    }

    /// Whether the management account administers a StackSet of that name (CloudFormation's
    /// DescribeStackSet).
    pub fn stack_set_exists(&self, name: &str) -> bool {
        let config = self.rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(crate::aws::REGION))
                .credentials_provider(aws_sdk_organizations::config::Credentials::new(
                    crate::aws::ACCESS_KEY,
                    crate::aws::SECRET_KEY,
                    None,
                    None,
                    "tests",
                ))
                .endpoint_url(&self.endpoint)
                .load(),
        );
        let client = aws_sdk_cloudformation::Client::new(&config);
        match self
            .rt
            .block_on(client.describe_stack_set().stack_set_name(name).send())
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_stack_set_not_found_exception()) =>
            {
                false
            }
            Err(e) => panic!("DescribeStackSet {name}: {e:?}"),
        }
    }

    /// IAM checks inside a member account.
    pub fn iam_in(&self, account: &str) -> Aws {
        let config = self.rt.block_on(assumed_config(&self.endpoint, account));
        Aws::from_config(&config)
    }
}
