fn main() {
    ka_core::error::main_with("ka-prune", ka_retain::cli::prune)
}
