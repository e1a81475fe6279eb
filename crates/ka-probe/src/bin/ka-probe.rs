fn main() {
    ka_core::error::main_with("ka-probe", ka_probe::cli::probe)
}
