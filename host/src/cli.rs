//! The command line: `serve`, `init`, `check`, `policy test|new|build`, `osv ...`,
//! `audit verify`. Errors become a message and an exit code here, at the edge.

// Commands read and write their files before serving starts or as one-shot
// work; serve's request path lives elsewhere.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::adapter_route::AdapterRoute;
use crate::app::App;
use crate::artifact::ArtifactStore;
use crate::auth::Tokens;
use crate::capabilities::Capabilities;
use crate::capabilities::audit::AuditLog;
use crate::capabilities::osv::advisories::Advisories;
use crate::capabilities::store::{KvStore, StoreCaps};
use crate::capabilities::upstream::{AdapterUpstream, Upstreams};
use crate::config::{Config, Settings, defaults, discover_upstream};
use crate::exceptions::Exceptions;
use crate::init::{ADMIN_TOKEN_FILE, CONFIG_FILE, write_layout};
use crate::preflight::{Answer, Preflight, Query};
use crate::proxy::Proxy;
use crate::reviews::Reviews;
use crate::runtime::engine::Engine;
use crate::runtime::guest::Limits;
use crate::runtime::{Layout, Runtime, watch};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A package firewall: registry proxy with WebAssembly adapters and policies"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve(ServeArgs),
    /// Write a working layout (config, gate-policy, default components) into DIR.
    Init {
        dir: PathBuf,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Ask the policies about one version, or every package of a lockfile, as
    /// the proxy would judge them: exit 0 allowed, 1 blocked, 2 error.
    Check(CheckArgs),
    /// Policy authoring tools.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The OSV mirror.
    #[command(subcommand)]
    Osv(OsvCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a new random token and the config entry that accepts it.
    Token {
        /// The name the token is known by (audit records, reviews).
        name: String,
        /// Print the entry for `clients.tokens` instead of `admin.tokens`.
        #[arg(long)]
        client: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run a policy component on JSON fixtures with the production engine.
    Test {
        component: PathBuf,
        #[arg(long)]
        fixtures: PathBuf,
    },
    /// Write a new policy project (the example rule) into DIR/NAME.
    New {
        name: String,
        #[arg(long, value_enum)]
        lang: crate::policy_project::Lang,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build the policy project in DIR into DIR/NAME.wasm.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum OsvCommand {
    /// Import an OSV bundle (all.zip), a folder of records, or one record.
    Import {
        path: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Fetch what changed from the configured OSV feed.
    Sync {
        #[arg(long = "ecosystem")]
        ecosystems: Vec<String>,
        /// The feed's base URL (default: osv.url from the config).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Records, last sync, age and source per ecosystem; exit 1 when the
    /// mirror is empty or a watched ecosystem's data is stale. Writes nothing.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit log, rotated files included, as one
    /// chain; names the first bad line. PATH: the live file or its directory.
    Verify { path: PathBuf },
}

/// Where the configuration comes from.
#[derive(Args, Clone, Default)]
struct ConfigArgs {
    /// The config file (default: DATA_DIR/gatehouse.yaml, created when missing).
    #[arg(long, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "GATEHOUSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    adapters: Option<PathBuf>,
    #[arg(long)]
    policies: Option<PathBuf>,
    #[arg(long)]
    gate_policy: Option<PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    /// npm, pypi, cargo, go, maven (OSV's spellings work too).
    #[arg(required_unless_present = "lockfile")]
    ecosystem: Option<String>,
    #[arg(requires = "ecosystem")]
    name: Option<String>,
    #[arg(requires = "name")]
    version: Option<String>,
    /// Check every registry package of a lockfile (package-lock.json,
    /// pnpm-lock.yaml, requirements.txt, uv.lock, Cargo.lock, go.sum).
    #[arg(long, conflicts_with = "ecosystem")]
    lockfile: Option<PathBuf>,
    /// Judge names and versions alone, without the upstream metadata.
    #[arg(long)]
    offline: bool,
    /// Print the answers as JSON (one object per package, one per line).
    #[arg(long)]
    json: bool,
    /// Log what gatehouse does on stderr (info level).
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// An adapter's upstream, e.g. `--upstream npm=http://127.0.0.1:4873`.
    #[arg(long = "upstream", value_parser = parse_upstream)]
    upstreams: Vec<(String, url::Url)>,
    /// The URL clients use to reach gatehouse.
    #[arg(long)]
    public_url: Option<url::Url>,
}

fn parse_upstream(text: &str) -> Result<(String, url::Url), String> {
    let (name, url) = text.split_once('=').ok_or("expected NAME=URL")?;
    let url = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    Ok((name.to_owned(), crate::config::without_sparse_prefix(&url)))
}

impl Cli {
    /// The log level when `GATEHOUSE_LOG` does not say: `check` is quiet
    /// unless asked to be verbose.
    pub fn default_log_level(&self) -> &'static str {
        match &self.command {
            Command::Check(args) if !args.verbose => "warn",
            _ => "info",
        }
    }
}

impl ConfigArgs {
    /// The settings without writing anything: with no config, the defaults.
    fn settings_or_defaults(&self) -> anyhow::Result<Settings> {
        let default_path = self.data_dir().join(CONFIG_FILE);
        let config = match &self.config {
            None if !default_path.exists() => {
                let mut config = Config::default();
                self.apply_overrides(&mut config);
                config
            }
            _ => self.load()?,
        };
        config.resolve()
    }

    /// `--data-dir`, or the default.
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR))
    }

    /// Loads the config; with none, initialises the data dir's default layout.
    fn load(&self) -> anyhow::Result<Config> {
        self.load_or(true)
    }

    /// Loads the config for a command that only reads: without one, it
    /// writes nothing and says how to make one.
    fn load_existing(&self) -> anyhow::Result<Config> {
        self.load_or(false)
    }

    fn load_or(&self, initialise: bool) -> anyhow::Result<Config> {
        let path = match &self.config {
            Some(path) => path.clone(),
            None => {
                let data_dir = self.data_dir();
                let path = data_dir.join(CONFIG_FILE);
                anyhow::ensure!(
                    initialise || path.exists(),
                    "no config at {} (pass --config FILE, or run `gatehouse init {}` first)",
                    path.display(),
                    data_dir.display()
                );
                if !path.exists() {
                    let written = write_layout(&data_dir, false)?;
                    eprintln!(
                        "gatehouse: no config given; initialised a default layout in {} ({} files; the admin API token is in {})",
                        data_dir.display(),
                        written.len(),
                        data_dir.join(ADMIN_TOKEN_FILE).display()
                    );
                }
                path
            }
        };
        let mut config = Config::load(&path)?;
        self.apply_overrides(&mut config);
        Ok(config)
    }

    fn apply_overrides(&self, config: &mut Config) {
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(dir) = &self.adapters {
            config.adapters_dir = Some(dir.clone());
        }
        if let Some(dir) = &self.policies {
            config.policies_dir = Some(dir.clone());
        }
        if let Some(file) = &self.gate_policy {
            config.gate_policy = Some(file.clone());
        }
    }
}

/// The services every command that evaluates policies needs.
struct Services {
    runtime: Arc<Runtime>,
    advisories: Arc<Advisories>,
    reviews: Arc<Reviews>,
}

fn open_mirror(data_dir: &Path) -> anyhow::Result<Arc<gatehouse_osv::Mirror>> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(crate::capabilities::osv::advisories::OSV_DATABASE);
    Ok(Arc::new(
        gatehouse_osv::Mirror::open(&path)
            .with_context(|| format!("opening {}", path.display()))?,
    ))
}

impl Services {
    async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let data_dir = &settings.data_dir;
        let advisories = Arc::new(Advisories::new(
            open_mirror(data_dir)?,
            settings.osv.clone(),
            &settings.adapters_dir,
        )?);
        let store = Arc::new(KvStore::with_caps(StoreCaps {
            keys: settings.limits.store_keys_per_component,
            bytes: settings.limits.store_bytes_per_component,
        }));
        let reviews = Arc::new(Reviews::open(
            &data_dir.join("reviews.json"),
            store.clone(),
        )?);
        let caps = Arc::new(Capabilities {
            osv: advisories.clone(),
            store,
            audit: Arc::new(AuditLog::open_with(
                &settings.audit_path,
                settings.audit.clone(),
            )?),
            exceptions: Arc::new(Exceptions::open(&data_dir.join("exceptions.json"))?),
            bounds: settings.limits,
        });
        let engine = Engine::new(&data_dir.join("cache").join("compiled"))?;
        let layout = Layout {
            adapters_dir: settings.adapters_dir.clone(),
            policies_dir: settings.policies_dir.clone(),
            gate_policy: settings.gate_policy.clone(),
        };
        let runtime = Runtime::new(engine, caps, layout)?;
        runtime.reload().await;
        Ok(Services {
            runtime,
            advisories,
            reviews,
        })
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match execute(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gatehouse: {error:#}");
            2
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Init { dir, force } => {
            let written = write_layout(&dir, force)?;
            println!("wrote {} files into {}", written.len(), dir.display());
            for file in written {
                println!("  {file}");
            }
            Ok(0)
        }
        Command::Check(args) => check(args).await,
        Command::Policy(PolicyCommand::Test {
            component,
            fixtures,
        }) => crate::policy_test::run(&component, &fixtures).await,
        Command::Policy(PolicyCommand::New { name, lang, dir }) => {
            let project = crate::policy_project::new(&name, lang, &dir)?;
            println!(
                "wrote {0}\nbuild it:  gatehouse policy build {0}\ntest it:   gatehouse policy test {0}/{name}.wasm --fixtures {0}/fixtures",
                project.display()
            );
            Ok(0)
        }
        Command::Policy(PolicyCommand::Build { dir }) => {
            let built = crate::policy_project::build(&dir)?;
            println!("built {}", built.display());
            Ok(0)
        }
        Command::Osv(command) => osv(command).await,
        Command::Token { name, client } => {
            let token = crate::auth::new_token()?;
            let list = if client { "clients" } else { "admin" };
            println!("token: {token}");
            println!("\n# add to gatehouse.yaml ({list}.tokens); only the hash is kept:");
            println!(
                "{list}:\n  tokens:\n    - name: {name}\n      sha256: {}",
                crate::auth::hash_token(&token)
            );
            Ok(0)
        }
        Command::Audit(AuditCommand::Verify { path }) => {
            match crate::capabilities::audit::verify(&path) {
                Ok(verified) => {
                    println!(
                        "{}: {} lines in {} files, chain intact{}{}",
                        path.display(),
                        verified.lines,
                        verified.files,
                        match verified.recovered {
                            0 => String::new(),
                            n =>
                                format!("; {n} torn tails recovered (see the `recovered` records)"),
                        },
                        if verified.pruned_start {
                            "; starts after older files removed by audit.keep"
                        } else {
                            ""
                        }
                    );
                    Ok(0)
                }
                Err(error) => {
                    println!("{error}");
                    Ok(1)
                }
            }
        }
    }
}

async fn osv(command: OsvCommand) -> anyhow::Result<i32> {
    match command {
        OsvCommand::Import { path, config } => {
            let mirror = open_mirror(&config.load()?.resolve()?.data_dir)?;
            let report = tokio::task::spawn_blocking(move || mirror.import_path(&path)).await??;
            println!(
                "imported {}, unchanged {}, skipped {}",
                report.imported,
                report.unchanged,
                report.skipped.len()
            );
            for skipped in &report.skipped {
                println!("  skipped {skipped:?}");
            }
            Ok(0)
        }
        OsvCommand::Sync {
            ecosystems,
            url,
            config,
        } => {
            let settings = config.load()?.resolve()?;
            // With sync off, a configured url still serves hand-run syncs.
            let base = url
                .or(settings.osv.source.clone())
                .or(settings.osv_url.clone())
                .context("no OSV feed: sync is off (osv.sync: false); pass --url")?;
            let ecosystems = if ecosystems.is_empty() {
                crate::capabilities::osv::advisories::watched(&settings.osv, &settings.adapters_dir)
            } else {
                ecosystems
            };
            anyhow::ensure!(
                !ecosystems.is_empty(),
                "name the ecosystems to sync (--ecosystem PyPI ...)"
            );
            let mirror = open_mirror(&settings.data_dir)?;
            let client = gatehouse_osv::http::client_builder().build()?;
            let report = gatehouse_osv::sync(&mirror, &client, &base, &ecosystems).await?;
            println!("{report:?}");
            Ok(0)
        }
        OsvCommand::Status { config } => {
            crate::capabilities::osv::advisories::print_status(&config.settings_or_defaults()?)
        }
    }
}

/// The shared upstream client and metadata cache.
fn upstreams(settings: &Settings) -> anyhow::Result<Arc<Upstreams>> {
    Upstreams::new(
        &settings.data_dir.join("cache").join("metadata"),
        settings.upstream.clone(),
    )
}

/// Each configured adapter's wiring: its upstream (through the shared
/// metadata cache), settings and limits. Adapters with no upstream to be found
/// are left out.
fn adapter_routes(settings: &Settings, shared: &Arc<Upstreams>) -> BTreeMap<String, AdapterRoute> {
    let mut routes = BTreeMap::new();
    for (name, adapter) in &settings.adapters {
        let url = match &adapter.url {
            Some(url) => url.clone(),
            None => match discover_upstream(name) {
                Some((url, source)) => {
                    tracing::info!(adapter = %name, %url, "upstream taken from {source}");
                    url
                }
                None => {
                    tracing::warn!(adapter = %name, "no upstream configured or discoverable; /{name}/ will answer 502");
                    continue;
                }
            },
        };
        let mut upstream = AdapterUpstream::new(url, &adapter.origins, shared.clone());
        upstream.ttl = adapter.ttl;
        upstream.credentials = adapter.credentials.clone();
        routes.insert(
            name.clone(),
            AdapterRoute {
                adapter: adapter.format.clone(),
                upstream: Arc::new(upstream),
                settings: adapter.settings.clone(),
                limits: Limits {
                    timeout: adapter.timeout,
                    memory_bytes: adapter.memory_bytes,
                },
            },
        );
    }
    routes
}

/// `gatehouse check`: the pre-flight from the command line.
async fn check(args: CheckArgs) -> anyhow::Result<i32> {
    let mut settings = args.config.load_existing()?.resolve()?;
    // A check only reads: its decisions go to a log of its own, never into the
    // chain a running `serve` writes (one writer per chain).
    let scratch = tempfile::tempdir().context("a scratch directory for check's audit log")?;
    settings.audit_path = scratch.path().join(defaults::AUDIT_FILE);
    let (queries, what) = match (&args.lockfile, args.ecosystem, args.name, args.version) {
        (Some(file), ..) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let name = file.display().to_string();
            let pins = gatehouse_lockfile::read(&name, &text)?;
            (pins.into_iter().map(Query::from).collect(), Some(name))
        }
        (None, Some(ecosystem), Some(name), Some(version)) => (
            vec![Query {
                ecosystem,
                name,
                version,
            }],
            None,
        ),
        _ => anyhow::bail!("name ECOSYSTEM NAME VERSION, or --lockfile FILE"),
    };
    for query in &queries {
        crate::preflight::ecosystem(&query.ecosystem)?;
    }
    let services = Services::open(&settings).await?;
    let routes = if args.offline {
        BTreeMap::new()
    } else {
        adapter_routes(&settings, &upstreams(&settings)?)
    };
    let preflight = Preflight {
        generation: services.runtime.current(),
        caps: &services.runtime.caps,
        routes: &routes,
        offline: args.offline,
        requester: Some("gatehouse check"),
    };
    let answers = preflight.decide(&queries).await;
    let count = |action: &str| answers.iter().filter(|a| a.action() == action).count();
    for answer in &answers {
        if args.json {
            println!("{}", answer.to_json());
        } else if what.is_none() || answer.action() != "allow" {
            print_answer(answer);
        }
    }
    if let Some(file) = &what
        && !args.json
    {
        println!(
            "{file}: {} packages: {} allowed, {} warned, {} blocked, {} not checked",
            answers.len(),
            count("allow"),
            count("warn"),
            count("block"),
            count("error")
        );
    }
    Ok(if count("block") > 0 {
        1
    } else if count("error") > 0 {
        2
    } else {
        0
    })
}

/// `block: npm left-pad@1.3.0` and a line per verdict.
fn print_answer(answer: &Answer) {
    let json = answer.to_json();
    let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_owned();
    println!(
        "{}: {} {}@{}",
        answer.action(),
        text(&json["ecosystem"]),
        text(&json["name"]),
        text(&json["version"])
    );
    if let Some(note) = json["note"].as_str() {
        println!("  note: {note}");
    }
    if let Some(problem) = json["error"].as_str() {
        println!("  {problem}");
    }
    for verdict in json["verdicts"].as_array().into_iter().flatten() {
        println!(
            "  {} {}: {}",
            text(&verdict["action"]),
            text(&verdict["rule"]),
            text(&verdict["reason"])
        );
    }
}

/// Runs the proxy until SIGTERM or SIGINT, then drains: exit code 0 when every
/// in-flight request finished within the grace period and the audit log was
/// synced, 1 otherwise; a second signal exits at once (130).
async fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    let mut config = args.config.load()?;
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Some(url) = args.public_url {
        config.public_url = Some(url);
    }
    for (name, url) in args.upstreams {
        config.upstreams.entry(name).or_default().url = Some(url);
    }
    let settings = config.resolve()?;
    // Bound before the components load (seconds), so a taken port fails fast.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let services = Services::open(&settings).await?;
    let shared = upstreams(&settings)?;
    let routes = adapter_routes(&settings, &shared);
    services.advisories.log_state();
    services.advisories.spawn_upkeep();
    let app = Arc::new(App {
        admin_tokens: Tokens::from_config("admin", &settings.admin_tokens)?,
        client_tokens: match Tokens::from_config("clients", &settings.client_tokens)? {
            tokens if settings.clients_required && tokens.is_empty() => {
                anyhow::bail!("clients.required is true but clients.tokens is empty")
            }
            tokens => settings.clients_required.then_some(tokens),
        },
        reviews: services.reviews.clone(),
        runtime: services.runtime.clone(),
        proxy: Proxy {
            routes,
            artifacts: ArtifactStore::open(
                &settings.data_dir.join("artifacts"),
                settings.max_store_bytes,
            )?,
            public_url: settings.public_url.clone(),
            trust_forwarded: settings.trust_forwarded,
            memo: crate::memo::Memo::new(defaults::MEMO_BYTES),
            contents: crate::contents::ContentsMemo::default(),
            sboms: crate::sbom_store::SbomStore::open(
                &settings.data_dir.join("sbom.sqlite"),
                settings.limits.sbom_documents,
            )?,
            gate_memo: crate::memo::GateMemo::new(
                defaults::GATE_MEMO_TTL,
                defaults::GATE_MEMO_ENTRIES,
            ),
        },
        mirror: Some(services.advisories.mirror.clone()),
        auth_failures: Default::default(),
    });
    let _watcher = watch::watch(services.runtime.clone())?;
    let grace = settings.shutdown_grace;
    let mut signals = Signals::new()?;
    let address = listener.local_addr()?;
    shared.egress().listening_on(address);
    // Tests and scripts read this line to find the port.
    println!("gatehouse listening on http://{address}");
    tracing::info!(%address, "serving");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(crate::server::serve(app, listener, stopping));
    let signal = tokio::select! {
        ended = &mut server => return ended?.map(|()| 1),
        signal = signals.next() => signal,
    };
    tracing::info!(
        signal,
        ?grace,
        "stopping: no new connections; draining in-flight requests"
    );
    let _ = stop.send(true);
    let drained = tokio::select! {
        ended = tokio::time::timeout(grace, &mut server) => matches!(ended, Ok(Ok(Ok(())))),
        signal = signals.next() => {
            eprintln!("gatehouse: second {signal}: exiting now");
            std::process::exit(130);
        }
    };
    if !drained {
        tracing::error!(
            ?grace,
            "requests still in flight after the grace period were cut off"
        );
    }
    let audit = services.runtime.caps.audit.clone();
    let mirror = services.advisories.mirror.clone();
    let closed = tokio::task::spawn_blocking(move || {
        let synced = audit.close();
        if let Err(error) = mirror.close() {
            tracing::error!(%error, "closing the OSV database failed");
        }
        synced
    })
    .await?;
    if !closed {
        tracing::error!("the audit log could not be synced before exit");
    }
    tracing::info!(drained, audit_synced = closed, "stopped");
    Ok(if drained && closed { 0 } else { 1 })
}

/// SIGTERM and SIGINT, one stream.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
