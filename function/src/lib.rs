//! The render function: renders Remotion bundles in headless Chromium and encodes them with
//! FFmpeg's libraries, as an AWS Lambda function or as a local command-line tool.

pub mod versions;
