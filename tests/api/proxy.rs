//! A TCP proxy in front of the PostgreSQL server, which a test can cut (every connection
//! closed, new ones refused: the database is gone) and bring back on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The proxy: a port of its own that forwards to `target` while it is up.
pub struct Proxy {
    port: u16,
    target: SocketAddr,
    running: Mutex<Option<Running>>,
}

/// The listener and its connections, while up.
struct Running {
    tasks: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target`, up.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            target,
            running: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let target = self.target;
        let accept = {
            let tasks = Arc::clone(&tasks);
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    tasks.lock().unwrap().spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            })
        };
        *self.running.lock().unwrap() = Some(Running { tasks, accept });
    }

    /// The database is gone: every connection through the proxy is closed, and new ones
    /// are refused.
    pub fn cut(&self) {
        if let Some(running) = self.running.lock().unwrap().take() {
            running.accept.abort();
            running.tasks.lock().unwrap().abort_all();
        }
    }

    /// The database is back, on the same port.
    pub async fn restore(&self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                // The aborted listener may take a moment to close.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }
}
