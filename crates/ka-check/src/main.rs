fn main() {
    ka_core::error::main_with("ka-check", ka_check::run)
}
