//! The `storeplane` command line (the binary is a thin `main` calling [`main`]).

#![allow(clippy::print_stdout)] // this is the CLI: stdout is its output

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::Config;
use crate::config::ServerConfig;
use crate::conformance::check_plugin;
use crate::plugins::hotload::{DirectoryLoader, HotLoadEvent};
use crate::plugins::{PluginRuntime, StoreSpec, builtin};
use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "storeplane",
    version,
    about = "Control plane for e-commerce stores on Kubernetes"
)]
struct Cli {
    /// Log filter (e.g. `info`, `storeplane=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true, value_parser = ["text", "json"])]
    log_format: String,
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server (migrates the database first).
    Serve(Box<ServerConfig>),
    /// Apply database migrations and exit.
    Migrate {
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://data/storeplane.db"
        )]
        database_url: String,
    },
    /// User administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Engine plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print the effective configuration.
    PrintConfig,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin account. The password is read from the first line of stdin, so it never
    /// appears in process arguments or shell history: `printf '%s\n' "$PW" | storeplane admin create ...`
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "sqlite://data/storeplane.db"
        )]
        database_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Check an engine plugin against its chart: load, describe, plan sample stores, render
    /// with helm and check every object. Exit status 0 only when every check passes.
    Check {
        /// The component to check.
        #[arg(required_unless_present = "builtin", conflicts_with = "builtin")]
        file: Option<PathBuf>,
        /// Check a built-in engine instead of a file.
        #[arg(long, value_parser = ["woocommerce", "medusa", "prestashop"])]
        builtin: Option<String>,
        /// An extra store spec (JSON, camelCase fields of the WIT store-spec) to plan.
        #[arg(long = "spec")]
        specs: Vec<PathBuf>,
        /// Write each spec's rendered manifests to DIR/<spec>.yaml.
        #[arg(long)]
        render_dir: Option<PathBuf>,
    },
    /// Write a new engine plugin crate (engine, options with their schema, a starter chart
    /// packaged at build time, tests) that builds and passes `plugin check` untouched.
    New {
        /// The engine id (a DNS label).
        name: String,
        /// Where to write it (default: ./NAME).
        #[arg(long)]
        path: Option<PathBuf>,
        /// A checkout of storeplane to take the SDK from (default: the GitHub repository at the
        /// tag of this binary's version).
        #[arg(long)]
        storeplane: Option<PathBuf>,
    },
    /// Register the built-in engines and every plugin in PLUGIN_DIR, then list them.
    List,
    /// Write a built-in engine's component to a file (to inspect it or as a starting point).
    Export {
        #[arg(value_parser = ["woocommerce", "medusa", "prestashop"])]
        engine: String,
        output: PathBuf,
    },
}

/// Parses the command line, runs the command, and reports errors on stderr.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(&cli.log_level, cli.log_format == "json");
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config;
    config.validate()?;
    match cli.command {
        Command::Serve(server) => {
            server.validate()?;
            crate::server::run(config, *server).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { database_url } => {
            let db = crate::db::connect(&database_url).await?;
            db.migrate().await?;
            db.close().await;
            println!(
                "migrations applied to {}",
                crate::db::redact_url(&database_url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(AdminCommand::Create {
            email,
            username,
            database_url,
        }) => create_admin(&email, &username, &database_url).await,
        Command::PrintConfig => {
            println!("{config:#?}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::New {
            name,
            path,
            storeplane,
        }) => {
            let dir = path.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = match storeplane {
                Some(root) => crate::scaffold::SdkSource::Checkout(
                    std::fs::canonicalize(&root)
                        .with_context(|| format!("reading {}", root.display()))?,
                ),
                None => crate::scaffold::SdkSource::Git,
            };
            let written = crate::scaffold::new_plugin(&name, &dir, &sdk)?;
            for file in &written {
                println!("wrote {}", file.display());
            }
            println!(
                "next: cd {} && cargo build --release --target wasm32-wasip2 && storeplane plugin check target/wasm32-wasip2/release/{}_engine.wasm",
                dir.display(),
                name.replace('-', "_")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Export { engine, output }) => {
            let wasm = builtin::wasm(&engine).context("unknown built-in engine")?;
            std::fs::write(&output, wasm)
                .with_context(|| format!("writing {}", output.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Check {
            file,
            builtin: name,
            specs,
            render_dir,
        }) => {
            let wasm = match (&file, &name) {
                (Some(path), _) => {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
                }
                (None, Some(name)) => builtin::wasm(name)
                    .context("unknown built-in engine")?
                    .to_vec(),
                (None, None) => anyhow::bail!("give a FILE.wasm or --builtin NAME"),
            };
            let extra = specs
                .iter()
                .map(|path| {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<StoreSpec>(&text)
                        .with_context(|| format!("parsing {}", path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let runtime = Arc::new(PluginRuntime::new(
                config.plugin_limits(),
                Some(config.plugin_cache_dir()),
            )?);
            let conformance = config.conformance();
            let report = check_plugin(runtime, &conformance, wasm, extra).await;
            if let Some(dir) = render_dir {
                report
                    .write_manifests(&dir)
                    .with_context(|| format!("writing manifests to {}", dir.display()))?;
            }
            println!("{report}");
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugin(PluginCommand::List) => {
            let registry = crate::server::registry_with_builtins(&config).await?;
            if let Some(dir) = &config.plugin_dir {
                for event in DirectoryLoader::new(dir.clone(), Arc::clone(&registry))
                    .scan()
                    .await
                {
                    if let HotLoadEvent::Rejected { path, error } = event {
                        println!("rejected {}: {error}", path.display());
                    }
                }
            }
            for engine in registry.list() {
                for v in engine.versions {
                    println!(
                        "{:<14} {:<10} {:<7} sha256:{} {:?}",
                        engine.id,
                        v.version.to_string(),
                        if v.active { "active" } else { "" },
                        v.digest.short(),
                        v.origin
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `storeplane admin create`.
async fn create_admin(email: &str, username: &str, database_url: &str) -> anyhow::Result<ExitCode> {
    use crate::db::{AuditContext, NewUser};
    use crate::domain::{Email, UserId, Username};
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("--username: {e}"))?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        (8..=128).contains(&password.chars().count()),
        "the password (stdin) must be 8 to 128 characters"
    );
    let hash = crate::auth::hash_password(password)?;
    let db = crate::db::connect(database_url).await?;
    db.migrate().await?;
    let user = NewUser {
        id: UserId::generate(),
        email,
        username,
        password_hash: hash,
    };
    let created = db.create_user(user, true, AuditContext::default()).await?;
    db.close().await;
    println!("admin {} ({}) created", created.username, created.email);
    Ok(ExitCode::SUCCESS)
}
