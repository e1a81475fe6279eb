fn main() {
    ka_core::error::main_with("ka-kconfig", ka_kconfig::run)
}
