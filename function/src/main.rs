//! `remotion-function`: the render function as a command-line tool (and, under AWS Lambda,
//! the function's runtime). The binary is the library's [`remotion_function::cli`].

fn main() -> std::process::ExitCode {
    remotion_function::cli::main()
}
