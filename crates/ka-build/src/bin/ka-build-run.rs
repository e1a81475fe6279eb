fn main() {
    ka_core::error::main_with("ka-build-run", ka_build::run)
}
