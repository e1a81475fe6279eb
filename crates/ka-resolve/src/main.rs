fn main() {
    ka_core::error::main_with("ka-resolve", ka_resolve::run)
}
