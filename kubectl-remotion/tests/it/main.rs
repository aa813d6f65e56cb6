//! The plugin binary's command line, without a cluster. (Against a cluster it is tested in the
//! operator's integration tests, `operator/tests/it/kubectl_plugin.rs`, which have the
//! stand-ins and the controllers; building this binary here is also what makes
//! `cargo test --workspace` build the executable they run.)

use std::process::{Command, Output};

fn plugin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-remotion"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("running kubectl-remotion")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_commands_as_kubectl_shows_a_plugin() {
    let out = plugin(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("Usage: kubectl remotion"), "{help}");
    for command in ["render", "still", "sites", "cancel", "logs"] {
        assert!(help.contains(command), "{command}: {help}");
    }
}

#[test]
fn render_help_names_remotions_flags() {
    let out = plugin(&["render", "--help"]);
    let help = text(&out.stdout);
    for flag in
        ["--props", "--codec", "--frames", "--crf", "--jpeg-quality", "--scale", "--frames-per-lambda", "--function"]
    {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

#[test]
fn a_bad_flag_exits_2_with_the_accepted_values() {
    let out = plugin(&["render", "site", "Intro", "--pixel-format", "rgb"]);
    assert_eq!(out.status.code(), Some(2));
    let error = text(&out.stderr);
    assert!(error.contains("rgb") && error.contains("yuv420p"), "{error}");
}

#[test]
fn a_missing_kubeconfig_exits_1_naming_it() {
    let out = plugin(&["--kubeconfig", "/nonexistent/kubeconfig", "sites"]);
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(error.starts_with("error: reading /nonexistent/kubeconfig"), "{error}");
}
