//! The `pybun` binary: argument parsing, the composition root (the one place
//! that names adapters), and rendering of outcomes as text or JSON.

mod check_command;
mod cli;
mod commands;
mod env_commands;
mod project_commands;
mod json;
mod lsp_command;
mod progress;
mod python_commands;
mod run_commands;
mod test_commands;
pub(crate) mod text;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use pybun_engine::{Code, Diagnostic, Failure};

use crate::cli::{Cli, OutputFormat};

/// mimalloc: glibc's allocator grows thread heaps a page at a time, which
/// cost warm `pybun lock` runs about a fifth of their time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a command produced: its JSON result and text lines.
pub(crate) struct Rendered {
    pub(crate) json: serde_json::Value,
    /// Printed to stdout in text mode.
    pub(crate) stdout: String,
    /// Printed to stderr in text mode (summaries), unless `--quiet`.
    pub(crate) stderr: String,
    pub(crate) warnings: Vec<Diagnostic>,
    /// A non-zero exit without a failure (e.g. `lock --check` is handled as a failure instead).
    pub(crate) exit: u8,
}

/// Global settings derived from the arguments.
pub(crate) struct Settings {
    pub(crate) format: OutputFormat,
    pub(crate) quiet: bool,
    pub(crate) directory: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = run_commands::fast_path(&args) {
        return code;
    }
    let args = run_commands::separate_program_args(args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&args, &error),
    };
    init_logging(cli.global.verbose);
    let directory = match &cli.global.directory {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let settings = Settings { format: cli.global.format, quiet: cli.global.quiet, directory };
    let command_name = commands::name(&cli.command);
    if matches!(cli.command, cli::Command::Lsp(_)) {
        // The server runs until the process ends; its index opener borrows the arguments that long.
        let cli: &'static Cli = Box::leak(Box::new(cli));
        return lsp_command::lsp(cli).unwrap_or_else(|failure| finish(command_name, &settings, Err(failure)));
    }
    // `run` and `x` hand the process over to the program they run.
    let handed_over = match &cli.command {
        cli::Command::Run(args) => Some(run_commands::run(&cli, &settings, args)),
        cli::Command::X(args) => Some(run_commands::x(&cli, &settings, args)),
        _ => None,
    };
    match handed_over {
        Some(Ok(code)) => code,
        Some(Err(failure)) => finish(command_name, &settings, Err(failure)),
        None => finish(command_name, &settings, commands::run(&cli, &settings)),
    }
}

fn wants_json(args: &[String]) -> bool {
    args.windows(2).any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
        || std::env::var("PYBUN_FORMAT").is_ok_and(|v| v == "json")
}

fn usage_error(args: &[String], error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    if wants_json(args) {
        let message = error.kind().as_str().unwrap_or("invalid usage").to_string();
        let rendered = error.render().to_string();
        let diagnostic = Diagnostic::error(Code::Usage, message)
            .with_cause(rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string())
            .with_hint("run `pybun --help` for usage");
        let document = json::failure_document(&subcommand_name(args), &Failure::new(diagnostic), &[]);
        print_stdout(&document.to_string());
        return ExitCode::from(2);
    }
    let _ = error.print();
    ExitCode::from(2)
}

/// The subcommand a rejected command line names (`""` when none), for the JSON `command`.
fn subcommand_name(args: &[String]) -> String {
    use clap::CommandFactory as _;
    Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()
        .and_then(|matches| matches.subcommand_name().map(str::to_string))
        .unwrap_or_default()
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("PYBUN_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::new(value),
        _ => match verbose {
            0 => EnvFilter::new("warn"),
            1 => EnvFilter::new("warn,pybun=debug,pybun_resolver=debug,pybun_index_http=debug,pybun_engine=debug"),
            _ => EnvFilter::new("debug"),
        },
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(true);
    // `PYBUN_LOG_TIME=1`: each line with the seconds since start (to see where a command's time goes).
    if std::env::var_os("PYBUN_LOG_TIME").is_some_and(|value| !value.is_empty()) {
        let _ = builder.with_timer(tracing_subscriber::fmt::time::uptime()).try_init();
    } else {
        let _ = builder.without_time().try_init();
    }
}

fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

pub(crate) fn print_stderr(text: &str) {
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = err.write_all(b"\n");
    }
}

fn finish(command: &str, settings: &Settings, result: Result<Rendered, Failure>) -> ExitCode {
    let json_mode = settings.format == OutputFormat::Json;
    match result {
        Ok(rendered) => {
            if json_mode {
                print_stdout(&json::success_document(command, &rendered.json, &rendered.warnings).to_string());
            } else {
                for warning in &rendered.warnings {
                    if !settings.quiet {
                        print_stderr(&text::diagnostic(warning));
                    }
                }
                if !rendered.stdout.is_empty() {
                    print_stdout(&rendered.stdout);
                }
                if !rendered.stderr.is_empty() && !settings.quiet {
                    print_stderr(&rendered.stderr);
                }
            }
            ExitCode::from(rendered.exit)
        }
        Err(failure) => {
            if json_mode {
                print_stdout(&json::failure_document(command, &failure, &[]).to_string());
            } else {
                print_stderr(&text::failure(&failure));
            }
            let code = failure.diagnostic.code;
            ExitCode::from(if code == Code::Usage { 2 } else { 1 })
        }
    }
}
