//! Scratch PostgreSQL databases: a uniquely named database created on the server an admin URL
//! points at, and dropped (with any connections still open to it) when the handle is dropped.
//! The store's own tests, the API tests and the benchmarks that need a database of their own
//! use it, so that runs in parallel never share one.

use super::{Error, Result, describe_connection};

/// A database of its own, dropped with this handle.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>_<random>` beside the database `admin` names.
    pub async fn create(admin: &str, prefix: &str) -> Result<Self> {
        let shown = describe_connection(admin);
        let (path, query) = match admin.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (admin, None),
        };
        let server = match path.rsplit_once('/') {
            Some((server, _)) if server.contains("://") && !server.ends_with('/') => server,
            _ => return Err(Error::Postgres(format!("{shown} names no database"))),
        };
        let name = format!("{prefix}_{}_{}", std::process::id(), fastrand::u64(..));
        let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
            .await
            .map_err(|e| Error::Postgres(format!("no PostgreSQL answers at {shown}: {e}")))?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| Error::Postgres(format!("cannot create a database at {shown}: {e}")))?;
        let url = match query {
            Some(query) => format!("{server}/{name}?{query}"),
            None => format!("{server}/{name}"),
        };
        Ok(Self {
            admin: admin.to_owned(),
            name,
            url,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Dropped from async code too: on a thread of its own with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
