//! frontdesk replicas started inside the benchmark process on one shared store: one app on a
//! temporary SQLite store, or any number of apps on a scratch PostgreSQL database created on
//! the server a URL names (and dropped afterwards). Each replica has its own data dir, its own
//! name in the store's claims and its own listener; the load generator spreads webhooks over
//! them round robin, as a load balancer would.

use crate::app::App;
use crate::config::Config;
use crate::intercom::Helpdesks;
use crate::store::{ScratchDatabase, Store};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the benchmark's store lives.
#[derive(Debug, Clone, Default)]
pub struct Backend {
    /// A PostgreSQL server (its URL names a database to connect to while creating the scratch
    /// one); `None` is a temporary SQLite store.
    pub database_url: Option<String>,
    /// Replicas sharing it (SQLite allows one).
    pub replicas: usize,
}

impl Backend {
    /// A name for reports: `SQLite` or `PostgreSQL, 3 replicas`.
    pub fn describe(&self) -> String {
        match (&self.database_url, self.replicas.max(1)) {
            (None, _) => "SQLite".into(),
            (Some(_), 1) => "PostgreSQL, 1 replica".into(),
            (Some(_), n) => format!("PostgreSQL, {n} replicas"),
        }
    }

    /// A fresh store for a benchmark without apps, with what must live as long as it.
    pub async fn store(&self) -> anyhow::Result<(Store, Scratch)> {
        let scratch = Scratch::create(self).await?;
        Ok((scratch.open().await?, scratch))
    }
}

/// Temporary dirs and the scratch database, removed when dropped.
pub struct Scratch {
    database: Option<ScratchDatabase>,
    dirs: Vec<tempfile::TempDir>,
}

impl Scratch {
    async fn create(backend: &Backend) -> anyhow::Result<Self> {
        let replicas = backend.replicas.max(1);
        let database = match &backend.database_url {
            Some(url) => Some(ScratchDatabase::create(url, "frontdesk_bench").await?),
            None => {
                anyhow::ensure!(
                    replicas == 1,
                    "replicas share a PostgreSQL database: give --database-url"
                );
                None
            }
        };
        let dirs = (0..replicas)
            .map(|_| tempfile::tempdir())
            .collect::<Result<_, _>>()?;
        Ok(Self { database, dirs })
    }

    /// Opens the store (again: each replica has its own connections).
    pub async fn open(&self) -> anyhow::Result<Store> {
        Ok(match &self.database {
            Some(database) => Store::connect(database.url()).await?,
            None => Store::open(self.dirs[0].path())?,
        })
    }
}

/// The running replicas.
pub struct Cluster {
    apps: Vec<App>,
    addrs: Arc<[SocketAddr]>,
    _scratch: Scratch,
}

impl Cluster {
    /// Starts `backend.replicas` apps from `config`, each with the helpdesks `helpdesks` makes.
    pub async fn start(
        config: &Config,
        backend: &Backend,
        helpdesks: impl Fn() -> anyhow::Result<Helpdesks>,
    ) -> anyhow::Result<Self> {
        let scratch = Scratch::create(backend).await?;
        let mut apps = Vec::with_capacity(scratch.dirs.len());
        for (i, dir) in scratch.dirs.iter().enumerate() {
            let mut config = config.clone();
            config.server.listen = "127.0.0.1:0".into();
            config.server.admin_listen = None;
            config.server.data_dir = dir.path().to_owned();
            config.server.replica_id = Some(format!("bench-{i}"));
            config.secrets.database_url = scratch
                .database
                .as_ref()
                .map(|d| SecretString::from(d.url().to_owned()));
            apps.push(App::start(&config, helpdesks()?, Arc::new(crate::clock::SystemClock)).await?);
        }
        let addrs = apps.iter().map(App::addr).collect();
        Ok(Self {
            apps,
            addrs,
            _scratch: scratch,
        })
    }

    /// The replicas' webhook addresses.
    pub fn addrs(&self) -> Arc<[SocketAddr]> {
        Arc::clone(&self.addrs)
    }

    /// The shared store (through the first replica).
    pub fn store(&self) -> &Store {
        self.apps[0].store()
    }

    /// Stops every replica.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        for app in self.apps {
            app.shutdown().await?;
        }
        Ok(())
    }
}
