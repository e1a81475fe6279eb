fn main() {
    ka_core::error::main_with("ka-verify-run", ka_probe::cli::verify)
}
