fn main() {
    ka_core::error::main_with("ka-resume-prune", ka_retain::cli::resume_prune)
}
