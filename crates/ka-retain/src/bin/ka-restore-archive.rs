fn main() {
    ka_core::error::main_with("ka-restore-archive", ka_retain::cli::restore_archive)
}
