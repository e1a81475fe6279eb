fn main() {
    ka_core::error::main_with("ka-gate", ka_block::cli::run_gate)
}
