//! Bearer tokens and their scopes.

use std::str::FromStr;

use axum::http::{HeaderMap, header};

use super::errors::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// What an operation asks of the caller's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid token, whatever its scopes (ping).
    AnyToken,
    Needs(Scope),
}

/// `--token TOKEN[:SCOPES]`, scopes comma-separated, both when omitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub token: String,
    pub read: bool,
    pub write: bool,
}

impl TokenSpec {
    pub fn generated() -> Self {
        Self {
            token: crate::ids::api_token(),
            read: true,
            write: true,
        }
    }

    fn allows(&self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }
}

impl FromStr for TokenSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (token, scopes) = match s.split_once(':') {
            Some((token, scopes)) => (token, Some(scopes)),
            None => (s, None),
        };
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("token '{token}' must be non-empty and free of whitespace"));
        }
        let mut spec = TokenSpec {
            token: token.to_owned(),
            read: scopes.is_none(),
            write: scopes.is_none(),
        };
        for scope in scopes.into_iter().flat_map(|s| s.split(',')) {
            match scope.trim() {
                "read" => spec.read = true,
                "write" => spec.write = true,
                other => {
                    return Err(format!("unknown scope '{other}' (expected read, write or read,write)"));
                }
            }
        }
        Ok(spec)
    }
}

#[derive(Debug)]
pub struct Tokens {
    specs: Vec<TokenSpec>,
}

impl Tokens {
    /// `specs` must not be empty: the caller generates one when the command line gave none.
    pub fn new(specs: Vec<TokenSpec>) -> Self {
        Self { specs }
    }

    pub fn first(&self) -> &str {
        self.specs.first().map(|s| s.token.as_str()).unwrap_or("")
    }

    pub fn is_known(&self, presented: &str) -> bool {
        self.find(presented).is_some()
    }

    fn find(&self, presented: &str) -> Option<&TokenSpec> {
        self.specs.iter().find(|s| s.token == presented)
    }

    pub fn authorize(&self, presented: Option<&str>, access: Access) -> Result<(), ApiError> {
        let spec = presented.and_then(|p| self.find(p)).ok_or(ApiError::Unauthorized)?;
        match access {
            Access::AnyToken => Ok(()),
            Access::Needs(scope) if spec.allows(scope) => Ok(()),
            Access::Needs(scope) => Err(ApiError::Forbidden(scope)),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> TokenSpec {
        s.parse().expect("valid token spec")
    }

    #[test]
    fn token_specs_parse() {
        assert_eq!(
            spec("abc"),
            TokenSpec {
                token: "abc".into(),
                read: true,
                write: true
            }
        );
        assert_eq!(
            spec("abc:read"),
            TokenSpec {
                token: "abc".into(),
                read: true,
                write: false
            }
        );
        assert_eq!(spec("abc:write,read"), spec("abc"));
        assert!("abc:admin".parse::<TokenSpec>().is_err());
        assert!(":read".parse::<TokenSpec>().is_err());
        assert!("abc:".parse::<TokenSpec>().is_err());
    }

    #[test]
    fn scopes_are_enforced() {
        let tokens = Tokens::new(vec![spec("rw"), spec("ro:read")]);
        assert_eq!(tokens.authorize(None, Access::AnyToken), Err(ApiError::Unauthorized));
        assert_eq!(
            tokens.authorize(Some("nope"), Access::AnyToken),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(
            tokens.authorize(Some("ro"), Access::Needs(Scope::Write)),
            Err(ApiError::Forbidden(Scope::Write))
        );
        assert_eq!(tokens.authorize(Some("ro"), Access::Needs(Scope::Read)), Ok(()));
        assert_eq!(tokens.authorize(Some("rw"), Access::Needs(Scope::Write)), Ok(()));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer tkn".parse().expect("header"));
        assert_eq!(bearer(&headers), Some("tkn"));
        headers.insert(header::AUTHORIZATION, "bearer  tkn ".parse().expect("header"));
        assert_eq!(bearer(&headers), Some("tkn"));
        headers.insert(header::AUTHORIZATION, "Basic dXNlcg==".parse().expect("header"));
        assert_eq!(bearer(&headers), None);
    }
}
