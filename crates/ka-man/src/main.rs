fn main() {
    ka_core::error::main_with("ka-man", ka_man::run)
}
