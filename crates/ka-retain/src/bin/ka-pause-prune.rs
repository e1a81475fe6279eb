fn main() {
    ka_core::error::main_with("ka-pause-prune", ka_retain::cli::pause_prune)
}
