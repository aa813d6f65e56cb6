//! Cost profiles read before launches, kept for a short while: a burst of jobs for one
//! composition reads its profile once instead of once per job (at a thousand jobs the reads
//! were one of the three remote calls each launch waited for).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remotion_protocol::chunking::CostProfile;

use super::bucket;

/// How long a profile (or its absence) is reused. A render that finishes updates the profile;
/// estimates may lag that by this much.
pub const PROFILE_TTL: Duration = Duration::from_secs(30);

/// Entries beyond which stale ones are dropped (bounded memory with many compositions).
const PRUNE_ABOVE: usize = 256;

type Key = (String, String);
/// When a profile was read, and what was found.
type Entry = (Instant, Option<Arc<CostProfile>>);

/// Recently read cost profiles by (bucket, key).
#[derive(Debug, Default)]
pub struct Profiles {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Profiles {
    /// The profile at `key` of `bucket`, from memory when read less than [`PROFILE_TTL`] ago.
    pub async fn get(&self, s3: &aws_sdk_s3::Client, bucket_name: &str, key: &str) -> Option<Arc<CostProfile>> {
        let wanted = (bucket_name.to_owned(), key.to_owned());
        if let Some((at, profile)) = self.lock().get(&wanted)
            && at.elapsed() < PROFILE_TTL
        {
            return profile.clone();
        }
        let profile = bucket::cost_profile(s3, bucket_name, key).await.map(Arc::new);
        let mut entries = self.lock();
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, (at, _)| at.elapsed() < PROFILE_TTL);
        }
        entries.insert(wanted, (Instant::now(), profile.clone()));
        profile
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
