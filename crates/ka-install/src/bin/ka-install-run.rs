fn main() {
    ka_core::error::main_with("ka-install-run", ka_install::run)
}
