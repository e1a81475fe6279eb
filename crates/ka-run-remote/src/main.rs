fn main() {
    ka_core::error::main_with("ka-run-remote", ka_run_remote::run)
}
