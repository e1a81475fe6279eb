fn main() {
    ka_core::error::main_with("ka-baseline", ka_baseline::run)
}
