//! A DNS resolver that does not stall on a lost answer.
//!
//! The system resolver (`getaddrinfo`) waits its full timeout (5 s with
//! glibc's defaults) when one UDP answer is lost. Measured here: about one
//! cold `pybun lock` in four stalled 5 s on the first connection to a new
//! host. This resolver starts the system lookup and, if it has not answered
//! within [`HEDGE_AFTER`], starts a second one and takes whichever answers
//! first; answers are memoized per host for the process.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// When to start the hedged second lookup.
const HEDGE_AFTER: Duration = Duration::from_millis(400);

#[derive(Debug, Default)]
pub(crate) struct HedgedResolver {
    answers: Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>,
}

fn lookup(host: String) -> tokio::task::JoinHandle<std::io::Result<Vec<SocketAddr>>> {
    tokio::task::spawn_blocking(move || (host.as_str(), 0).to_socket_addrs().map(Iterator::collect))
}

impl Resolve for HedgedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let answers = Arc::clone(&self.answers);
        Box::pin(async move {
            if let Some(addrs) = answers.lock().unwrap_or_else(PoisonError::into_inner).get(&host) {
                return Ok(Box::new(addrs.clone().into_iter()) as Addrs);
            }
            let mut first = lookup(host.clone());
            let result = match tokio::time::timeout(HEDGE_AFTER, &mut first).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::debug!(%host, "slow DNS answer: asking again");
                    let mut second = lookup(host.clone());
                    tokio::select! {
                        joined = &mut first => joined,
                        joined = &mut second => joined,
                    }
                }
            };
            let addrs = result.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)??;
            answers.lock().unwrap_or_else(PoisonError::into_inner).insert(host, addrs.clone());
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
