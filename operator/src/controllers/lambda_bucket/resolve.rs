//! Step 1: which bucket a LambdaBucket stands for, created when it does not exist yet.
//!
//! Auto-named buckets other LambdaBuckets own are passed over: two namespaces that each want
//! the region's bucket get one each, and one namespace's bucket never makes another's
//! ambiguous (`MultipleBuckets`).

use remotion_crds::lambda_bucket::{bucket_name_for_region, is_auto_bucket_of_region};
use remotion_crds::{LambdaBucket, Reason};

use super::owner::{Claim, Owner};
use super::ownership;
use super::s3::{BucketState, auto_buckets, bucket_state, create_bucket};
use crate::aws::AwsClients;
use crate::reconcile::Error;

/// How the bucket was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Named in the spec, or recorded in the status earlier, and present.
    Existing,
    /// An auto-named bucket of the region this LambdaBucket owns or nobody owns, found by
    /// listing.
    Adopted,
    /// Created now.
    Created,
}

/// The bucket to use: the spec's name (created if missing), the one recorded in the status,
/// or the region's single auto-named bucket `owner` owns or nobody owns (created if there is
/// none). Whether `owner` may use a named or recorded bucket is checked afterwards
/// ([`ownership::take`]).
pub async fn bucket(clients: &AwsClients, live: &LambdaBucket, owner: &Owner) -> Result<(String, Found), Error> {
    let region = &live.spec.aws.region;
    if let Some(name) = &live.spec.bucket_name {
        return match bucket_state(&clients.s3, name).await? {
            BucketState::Exists => Ok((name.clone(), Found::Existing)),
            BucketState::Missing => {
                create_bucket(&clients.s3, name, region).await?;
                Ok((name.clone(), Found::Created))
            }
            BucketState::Forbidden => Err(forbidden(name)),
        };
    }
    // Keep the bucket chosen before, even if more auto-named buckets appeared since.
    let recorded =
        live.status.as_ref().and_then(|s| s.bucket_name.clone()).filter(|n| is_auto_bucket_of_region(n, region));
    if let Some(name) = recorded {
        match bucket_state(&clients.s3, &name).await? {
            BucketState::Exists => return Ok((name, Found::Existing)),
            BucketState::Forbidden => return Err(forbidden(&name)),
            BucketState::Missing => {} // deleted by hand: look again
        }
    }
    let custom_endpoint = live.spec.aws.endpoint.is_some();
    let mut candidates = Vec::new();
    for name in auto_buckets(&clients.s3, region).await? {
        let claim = ownership::read(&clients.s3, &name, custom_endpoint).await?.claim(owner);
        candidates.push((name, claim));
    }
    match choose(region, &candidates)? {
        Some(name) => Ok((name, Found::Adopted)),
        None => {
            let name = bucket_name_for_region(region, &random_suffix())
                .map_err(|e| Error::caused_by(Reason::InternalError, "naming a new bucket", e))?;
            create_bucket(&clients.s3, &name, region).await?;
            Ok((name, Found::Created))
        }
    }
}

/// The auto-named bucket to use among `candidates`: the one this LambdaBucket owns, else the
/// single one nobody owns, else none (create one). Buckets other resources own are passed
/// over; several of ours, or several nobody owns, are an error naming them.
fn choose(region: &str, candidates: &[(String, Claim)]) -> Result<Option<String>, Error> {
    let with = |wanted: fn(&Claim) -> bool| -> Vec<String> {
        candidates.iter().filter(|(_, claim)| wanted(claim)).map(|(name, _)| name.clone()).collect()
    };
    let mine = with(|claim| *claim == Claim::Mine);
    let candidates = if mine.is_empty() { with(|claim| *claim == Claim::Unclaimed) } else { mine };
    match candidates.as_slice() {
        [] => Ok(None),
        [single] => Ok(Some(single.clone())),
        several => Err(Error::new(
            Reason::MultipleBuckets,
            format!(
                "found {} buckets for region {region}: {}; set spec.bucketName to the one to use",
                several.len(),
                several.join(", ")
            ),
        )),
    }
}

fn forbidden(name: &str) -> Error {
    Error::new(
        Reason::BucketNotAccessible,
        format!(
            "bucket {name} exists but these credentials may not use it (another account's bucket, or missing s3:ListBucket); choose another spec.bucketName or fix the IAM policy"
        ),
    )
}

/// 10 characters of `[a-z0-9]`.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(list: &[(&str, Claim)]) -> Vec<(String, Claim)> {
        list.iter().map(|(name, claim)| ((*name).to_owned(), claim.clone())).collect()
    }

    #[test]
    fn one_candidate_is_adopted_none_created_several_refused() {
        assert_eq!(choose("eu-west-1", &[]).unwrap(), None);
        let one = candidates(&[("remotionlambda-euwest1-abc", Claim::Unclaimed)]);
        assert_eq!(choose("eu-west-1", &one).unwrap().as_deref(), Some("remotionlambda-euwest1-abc"));
        let two = candidates(&[
            ("remotionlambda-euwest1-a", Claim::Unclaimed),
            ("remotionlambda-euwest1-b", Claim::Unclaimed),
        ]);
        let error = choose("eu-west-1", &two).unwrap_err();
        assert_eq!(error.reason(), Reason::MultipleBuckets);
        assert!(error.is_terminal());
        assert!(error.report().contains("remotionlambda-euwest1-a, remotionlambda-euwest1-b"), "{}", error.report());
    }

    #[test]
    fn buckets_of_others_are_passed_over_and_our_own_comes_first() {
        let theirs = || Claim::Another("default/b/main".into());
        // Another namespace's bucket neither is adopted nor makes ours ambiguous.
        let only_theirs = candidates(&[("remotionlambda-euwest1-b", theirs())]);
        assert_eq!(choose("eu-west-1", &only_theirs).unwrap(), None);
        let theirs_and_free =
            candidates(&[("remotionlambda-euwest1-b", theirs()), ("remotionlambda-euwest1-c", Claim::Unclaimed)]);
        assert_eq!(choose("eu-west-1", &theirs_and_free).unwrap().as_deref(), Some("remotionlambda-euwest1-c"));
        // Ours wins over one nobody owns.
        let ours_and_free =
            candidates(&[("remotionlambda-euwest1-a", Claim::Mine), ("remotionlambda-euwest1-c", Claim::Unclaimed)]);
        assert_eq!(choose("eu-west-1", &ours_and_free).unwrap().as_deref(), Some("remotionlambda-euwest1-a"));
    }

    #[test]
    fn suffixes_are_ten_lowercase_alphanumerics() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 10);
        assert!(suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
