fn main() {
    ka_core::error::main_with("ka-block", ka_block::cli::run_block)
}
