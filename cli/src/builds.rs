//! Release commands on builds: `builds list | show | disable | enable |
//! set-mandatory | set-native-versions | stats`.

use crate::client::ServerError;
use crate::output::{Failure, Output};
use crate::remote::{build_path, runtime, when, AppArg, BuildArg, Remote};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use liveship_core::domain::check_native_version;
use liveship_core::model::{describe_native_limits, Build, NativeChanges, NativeLimitChange};
use liveship_core::wire::{BuildList, BuildStats, PatchBuild};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum BuildsCmd {
    /// List builds, newest first.
    List(ListArgs),
    /// Show one build.
    Show(BuildCmdArgs),
    /// Disable a build: it is never offered again, and devices running it
    /// move to the channel's previous build (or the bundle inside the app).
    Disable(DisableArgs),
    /// Enable a disabled build.
    Enable(BuildCmdArgs),
    /// Mark a build mandatory (devices apply it at once), or not.
    SetMandatory(MandatoryArgs),
    /// Set, change or clear a build's native (binary) version limits.
    SetNativeVersions(NativeArgs),
    /// Install statistics of a build: events and distinct devices.
    Stats(BuildCmdArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    app: AppArg,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct BuildCmdArgs {
    #[command(flatten)]
    build: BuildArg,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct DisableArgs {
    #[command(flatten)]
    build: BuildArg,
    /// Disable it even if channels serve it now (their devices then get the
    /// previous build, or go back to the bundle inside the app).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct MandatoryArgs {
    #[command(flatten)]
    build: BuildArg,
    /// true: devices apply it at once; false: at their next restart.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    mandatory: bool,
    #[command(flatten)]
    remote: Remote,
}

/// A native version flag: a version, or "" to remove that limit.
fn native_version_arg(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    check_native_version(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

#[derive(Debug, Args)]
pub struct NativeArgs {
    #[command(flatten)]
    build: BuildArg,
    /// Lowest iOS app version that may get the build ("" removes this limit).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    ios_min: Option<String>,
    /// Highest iOS app version that may get the build ("" removes it).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    ios_max: Option<String>,
    /// The only iOS app version that may get the build ("" removes it).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    ios_eq: Option<String>,
    /// Lowest Android app version that may get the build ("" removes it).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    android_min: Option<String>,
    /// Highest Android app version that may get the build ("" removes it).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    android_max: Option<String>,
    /// The only Android app version that may get the build ("" removes it).
    #[arg(long, value_name = "V", value_parser = native_version_arg)]
    android_eq: Option<String>,
    /// Remove every iOS limit.
    #[arg(long, conflicts_with_all = ["ios_min", "ios_max", "ios_eq"])]
    clear_ios: bool,
    /// Remove every Android limit.
    #[arg(long, conflicts_with_all = ["android_min", "android_max", "android_eq"])]
    clear_android: bool,
    #[command(flatten)]
    remote: Remote,
}

impl NativeArgs {
    /// The change to send: only what the flags name; the rest stays.
    fn changes(&self) -> NativeChanges {
        let mut out = NativeChanges::new();
        let field = |v: &Option<String>| {
            v.as_ref()
                .map(|s| Some(s.clone()).filter(|s| !s.is_empty()))
        };
        for (platform, clear, min, max, eq) in [
            (
                "ios",
                self.clear_ios,
                &self.ios_min,
                &self.ios_max,
                &self.ios_eq,
            ),
            (
                "android",
                self.clear_android,
                &self.android_min,
                &self.android_max,
                &self.android_eq,
            ),
        ] {
            if clear {
                out.insert(platform.into(), None);
            } else if min.is_some() || max.is_some() || eq.is_some() {
                let change = NativeLimitChange {
                    min: field(min),
                    max: field(max),
                    eq: field(eq),
                };
                out.insert(platform.into(), Some(change));
            }
        }
        out
    }
}

fn patch(remote: &Remote, b: &BuildArg, body: &PatchBuild) -> anyhow::Result<Build> {
    let api = remote.api()?;
    runtime()?.block_on(api.json(
        Method::PATCH,
        &build_path(&b.app_id, &b.build_id),
        Some(body),
    ))
}

fn flags(b: &Build) -> String {
    let mut f = Vec::new();
    if b.mandatory {
        f.push("mandatory");
    }
    if b.disabled {
        f.push("DISABLED");
    }
    if f.is_empty() {
        "-".into()
    } else {
        f.join(",")
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn first_line(s: Option<&str>, max: usize) -> String {
    let line = s.and_then(|s| s.lines().next()).unwrap_or("-");
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// The human description of one build, several lines.
fn describe(b: &Build) -> Vec<String> {
    vec![
        format!("Build {} (version {})", b.id, b.version),
        format!("  created    {}", when(b.created_at)),
        format!(
            "  artifact   {}, {} files, {}{}",
            format!("{:?}", b.artifact_type).to_lowercase(),
            b.file_count,
            size(b.total_size),
            b.artifact_url
                .as_deref()
                .map_or(String::new(), |u| format!(", hosted at {u}"))
        ),
        format!("  flags      {}", flags(b)),
        format!("  native     {}", describe_native_limits(&b.native)),
        format!(
            "  commit     {} {} {}",
            b.commit.r#ref.as_deref().unwrap_or("-"),
            b.commit.sha.as_deref().unwrap_or("-"),
            first_line(b.commit.message.as_deref(), 72)
        ),
        format!(
            "  signed by  {}",
            b.key_id.as_deref().unwrap_or("(unsigned)")
        ),
    ]
}

pub fn builds(cmd: BuildsCmd, out: &Output) -> Result<Value, Failure> {
    match cmd {
        BuildsCmd::List(a) => {
            let api = a.remote.api()?;
            let list: BuildList = runtime()?.block_on(api.json::<(), _>(
                Method::GET,
                &format!("/v1/apps/{}/builds", a.app.app_id),
                None,
            ))?;
            out.say(format!(
                "{:>6}  {:<14} {:<8} {:>6} {:>9}  {:<20} {:<16} {:<34} COMMIT",
                "ID", "VERSION", "TYPE", "FILES", "SIZE", "CREATED", "FLAGS", "NATIVE"
            ));
            for b in &list.builds {
                out.say(format!(
                    "{:>6}  {:<14} {:<8} {:>6} {:>9}  {:<20} {:<16} {:<34} {} {}",
                    b.id,
                    b.version,
                    format!("{:?}", b.artifact_type).to_lowercase(),
                    b.file_count,
                    size(b.total_size),
                    when(b.created_at),
                    flags(b),
                    describe_native_limits(&b.native),
                    b.commit.r#ref.as_deref().unwrap_or("-"),
                    first_line(b.commit.message.as_deref(), 40),
                ));
            }
            Ok(json!({"command": "builds list", "builds": list.builds}))
        }
        BuildsCmd::Show(a) => {
            let api = a.remote.api()?;
            let b = runtime()?.block_on(crate::remote::resolve_build(
                &api,
                &a.build.app_id,
                &a.build.build_id,
            ))?;
            for line in describe(&b) {
                out.say(line);
            }
            Ok(json!({"command": "builds show", "build": b}))
        }
        BuildsCmd::Disable(a) => {
            let body = PatchBuild {
                disabled: Some(true),
                force: a.force.then_some(true),
                ..Default::default()
            };
            let b = patch(&a.remote, &a.build, &body).map_err(|e| {
                let live = e
                    .downcast_ref::<ServerError>()
                    .is_some_and(|s| s.code() == Some("build_live"));
                if live {
                    e.context("nothing was changed; run again with --force to disable it anyway")
                } else {
                    e
                }
            })?;
            out.say(format!(
                "Build {} (version {}) is disabled",
                b.id, b.version
            ));
            Ok(json!({"command": "builds disable", "build": b}))
        }
        BuildsCmd::Enable(a) => {
            let body = PatchBuild {
                disabled: Some(false),
                ..Default::default()
            };
            let b = patch(&a.remote, &a.build, &body)?;
            out.say(format!("Build {} (version {}) is enabled", b.id, b.version));
            Ok(json!({"command": "builds enable", "build": b}))
        }
        BuildsCmd::SetMandatory(a) => {
            let body = PatchBuild {
                mandatory: Some(a.mandatory),
                ..Default::default()
            };
            let b = patch(&a.remote, &a.build, &body)?;
            out.say(format!(
                "Build {} (version {}) is {}",
                b.id,
                b.version,
                if b.mandatory {
                    "mandatory: devices apply it at once"
                } else {
                    "not mandatory: devices apply it at their next restart"
                }
            ));
            Ok(json!({"command": "builds set-mandatory", "build": b}))
        }
        BuildsCmd::SetNativeVersions(a) => set_native_versions(a, out),
        BuildsCmd::Stats(a) => stats(a, out),
    }
}

pub fn set_native_versions(a: NativeArgs, out: &Output) -> Result<Value, Failure> {
    let native = a.changes();
    if native.is_empty() {
        return Err(anyhow!(
            "give at least one of --ios-min --ios-max --ios-eq --android-min --android-max \
             --android-eq --clear-ios --clear-android"
        )
        .into());
    }
    let body = PatchBuild {
        native: Some(native),
        ..Default::default()
    };
    let b = patch(&a.remote, &a.build, &body)?;
    out.say(format!(
        "Build {} (version {}) native limits: {}",
        b.id,
        b.version,
        describe_native_limits(&b.native)
    ));
    Ok(json!({"command": "set-native-versions", "build_id": b.id, "native": b.native}))
}

pub fn stats(a: BuildCmdArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let s: BuildStats = runtime()?.block_on(api.json::<(), _>(
        Method::GET,
        &format!("{}/stats", build_path(&a.build.app_id, &a.build.build_id)),
        None,
    ))?;
    out.say(format!("Build {}", s.build_id));
    out.say(format!(
        "{:<18} {:>10} {:>10}",
        "EVENT", "DEVICES", "EVENTS"
    ));
    for (k, n) in &s.counts {
        out.say(format!(
            "{:<18} {:>10} {n:>10}",
            k.as_str(),
            s.devices.get(k).copied().unwrap_or(0)
        ));
    }
    Ok(
        json!({"command": "stats", "build_id": s.build_id, "counts": s.counts, "devices": s.devices}),
    )
}
