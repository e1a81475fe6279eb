fn main() {
    ka_core::error::main_with("ka-sign", ka_sign::run)
}
