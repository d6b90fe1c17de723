//! proxyd: L4 load balancer for Exchange 2010 CAS. Thin main: everything is in [`proxyd::cli`].

fn main() -> std::process::ExitCode {
    proxyd::cli::main()
}
