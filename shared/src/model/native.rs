//! Native (binary) version limits of a build, and how they are compared.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Native (binary) version limits for one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NativeLimit {
    /// Lowest native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Highest native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The only native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<String>,
}

impl NativeLimit {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        self.min.is_none() && self.max.is_none() && self.eq.is_none()
    }
}

/// Native version limits per platform (`ios`, `android`, ...).
pub type NativeLimits = BTreeMap<String, NativeLimit>;

/// A change to one platform's limits. Each field: absent keeps it, `null`
/// or `""` removes it, a version sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NativeLimitChange {
    /// Lowest native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub min: Option<Option<String>>,
    /// Highest native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub max: Option<Option<String>>,
    /// The only native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub eq: Option<Option<String>>,
}

impl NativeLimitChange {
    /// The change that sets exactly `limit`'s fields (an empty one removes).
    pub fn setting(limit: &NativeLimit) -> Self {
        Self {
            min: Some(limit.min.clone().filter(|v| !v.is_empty())),
            max: Some(limit.max.clone().filter(|v| !v.is_empty())),
            eq: Some(limit.eq.clone().filter(|v| !v.is_empty())),
        }
    }
}

fn set_or_remove<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(
        Option::<String>::deserialize(d)?.filter(|v| !v.is_empty()),
    ))
}

/// Changes per platform; `null` for a platform removes all its limits.
pub type NativeChanges = BTreeMap<String, Option<NativeLimitChange>>;

/// Native limits that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeLimitError {
    /// A platform or version breaks the rules.
    #[error(transparent)]
    Invalid(#[from] crate::domain::DomainError),
    /// The limits of a platform contradict each other.
    #[error("{platform}: {problem}")]
    Inconsistent {
        /// The platform.
        platform: String,
        /// What is wrong, and what to do.
        problem: String,
    },
}

/// Checks every platform name and version of `limits`, and that each
/// platform's limits agree (`min` <= `max`; `eq` alone).
pub fn check_native_limits(limits: &NativeLimits) -> Result<(), NativeLimitError> {
    for (platform, limit) in limits {
        if crate::domain::native_platform(platform)? != platform {
            return Err(crate::domain::DomainError::Platform(platform.clone()).into());
        }
        for v in [&limit.min, &limit.max, &limit.eq].into_iter().flatten() {
            crate::domain::check_native_version(v)?;
        }
        let problem = match (&limit.min, &limit.max, &limit.eq) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                Some("eq is the only version allowed, so it cannot be combined with min or max; remove those first")
            }
            (Some(min), Some(max), None)
                if native_cmp(min, max) == std::cmp::Ordering::Greater =>
            {
                Some("min is above max, so no device could get the build")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(NativeLimitError::Inconsistent {
                platform: platform.clone(),
                problem: problem.to_owned(),
            });
        }
    }
    Ok(())
}

/// `limits` with `changes` merged in: untouched fields and platforms stay.
pub fn apply_native_changes(
    limits: &NativeLimits,
    changes: &NativeChanges,
) -> Result<NativeLimits, NativeLimitError> {
    let mut out = limits.clone();
    for (platform, change) in changes {
        let platform = crate::domain::native_platform(platform)?;
        let Some(change) = change else {
            out.remove(platform);
            continue;
        };
        let limit = out.entry(platform.to_owned()).or_default();
        for (field, value) in [
            (&mut limit.min, &change.min),
            (&mut limit.max, &change.max),
            (&mut limit.eq, &change.eq),
        ] {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        if limit.is_empty() {
            out.remove(platform);
        }
    }
    check_native_limits(&out)?;
    Ok(out)
}

/// A one-line summary of native limits, such as `ios >= 9.0, <= 12; android any`.
pub fn describe_native_limits(limits: &NativeLimits) -> String {
    crate::domain::NATIVE_PLATFORMS
        .iter()
        .map(|p| match limits.get(*p) {
            Some(l) if !l.is_empty() => {
                let mut parts = Vec::new();
                if let Some(v) = &l.eq {
                    parts.push(format!("= {v}"));
                }
                if let Some(v) = &l.min {
                    parts.push(format!(">= {v}"));
                }
                if let Some(v) = &l.max {
                    parts.push(format!("<= {v}"));
                }
                format!("{p} {}", parts.join(", "))
            }
            _ => format!("{p} any"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compares native versions numerically part by part (`1.10.0` > `1.9.2`);
/// missing parts count as 0, and a suffix such as `-beta.1` is ignored.
pub fn native_cmp(a: &str, b: &str) -> Ordering {
    fn parts(v: &str) -> Vec<u64> {
        let v = v.trim().trim_start_matches(['v', 'V']);
        let end = v
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(v.len());
        let mut out: Vec<u64> = v[..end]
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }
    parts(a).cmp(&parts(b))
}
